"""WalletService RPCs for vouchers: a mixin of WalletServicer (see grpc_servicer.py for the helpers
it relies on: self._mutate, self._read, self._check_pin, self._tokens)."""

from __future__ import annotations


class VouchersRpc:
    pass
