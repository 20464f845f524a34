"""Legacy export files, as `peony import` and the ImportService read them: streamed CSV / XLSX rows
(readers.py), the YAML column mapping and the shipped mappings (mapping.py, mappings/*.yaml), and
one mapped row as a validated record or its row errors (records.py).

It lives with members because members is the one service that reads such files (the CLI command
and members' ImportService worker); the wallet only receives the parsed opening balances.
"""
