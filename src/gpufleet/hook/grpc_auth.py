"""Who may call the KEDA scaler: every gRPC call is checked before the scaler sees it.

Two ways, chosen by hook.yaml:
- mutual TLS (`listen.client_ca`): what KEDA supports for external scalers (a TriggerAuthentication with
  `caCert`, `tlsClientCert`, `tlsClientKey`). The TLS handshake itself refuses a client without a
  certificate signed by that CA, so such a client never reaches a method; with `listen.client_names`, a
  certificate whose CN and DNS names are all outside the list is refused with PERMISSION_DENIED;
- a bearer token (without client_ca): `authorization: Bearer <token>` in the call's metadata, compared in
  constant time (hmac.compare_digest); a missing or wrong token is UNAUTHENTICATED.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from gpufleet.core.errors import GpufleetError
from gpufleet.hook.config import Listen


class Authenticate(grpc.aio.ServerInterceptor):
    """Wraps every method so that the check runs before the servicer's code."""

    def __init__(self, token: str, *, mtls: bool, names: list[str]) -> None:
        self.token = token.encode()
        self.mtls, self.names = mtls, set(names)
        self.refused = 0  # calls refused (for /metrics)

    async def _check(self, context: Any) -> None:
        if self.mtls:
            auth = context.auth_context()
            ids = {
                v.decode(errors="replace")
                for k in ("x509_common_name", "x509_subject_alternative_name")
                for v in auth.get(k, [])
            }
            if not auth.get("x509_pem_cert"):  # the handshake requires one; never trust its absence
                self.refused += 1
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required")
            if self.names and not (ids & self.names):
                self.refused += 1
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this client certificate is not allowed")
            return
        got = b""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                got = value.encode() if isinstance(value, str) else bytes(value)
                break
        scheme, _, cred = got.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(cred.strip(), self.token):
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: Any) -> Any:
                await self._check(context)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                await self._check(context)
                async for item in inner_stream(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        return handler  # the scaler has no client-streaming methods


def server_credentials(listen: Listen) -> grpc.ServerCredentials | None:
    """TLS credentials for the gRPC port (requiring a client certificate when client_ca is set), or None."""
    if listen.tls_cert is None or listen.tls_key is None:
        return None

    def read(p: Path, what: str) -> bytes:
        try:
            return p.read_bytes()
        except OSError as e:
            raise GpufleetError(f"listen.{what} {p}: cannot read it ({e.strerror})") from None

    cert, key = read(listen.tls_cert, "tls_cert"), read(listen.tls_key, "tls_key")
    ca = read(listen.client_ca, "client_ca") if listen.client_ca is not None else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)
