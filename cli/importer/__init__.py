"""`peony import`: moving a chain to Peony from its legacy system's export — the command only.

run.py   the command: arguments, progress bar, the error report file, batches -> members' and the
         wallet's import adapters, the reconciliation

What the command and the members service's ImportService both use lives with members:
``services/members/adapters/legacy_files/`` (readers.py: CSV/XLSX streamed; mapping.py and the
shipped ``mappings/*.yaml``; records.py: a row -> a validated record or its errors) and
``services/members/service_layer/legacy_rows.py`` (checking, outcomes, store and voucher rows).
Each service's rows are written by that service's own adapter on its own database
(`services/members/adapters/legacy_import.py`, `services/wallet/adapters/legacy_import.py`),
idempotent by (import id, row).
"""
