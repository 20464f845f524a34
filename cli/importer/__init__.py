"""`peony import`: moving a chain to Peony from its legacy system's export.

readers.py   streams CSV (UTF-8 / GB18030) and XLSX rows, constant memory
mapping.py   the YAML column mapping (shipped: mappings/yikayi_zh.yaml, mappings/generic_en.yaml)
records.py   one mapped row -> a validated record, or the row's errors (in the file's language)
run.py       the command: batches -> members' and the wallet's import adapters, the error report,
             the reconciliation

Each service's rows are written by that service's own adapter on its own database
(`services/members/adapters/legacy_import.py`, `services/wallet/adapters/legacy_import.py`),
idempotent by (import id, row).
"""
