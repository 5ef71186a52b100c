"""What a failed request raises: requests' exception names, from urllib3's errors, without importing requests.

The names and the mapping are requests' (its HTTPAdapter.send and Response.iter_content), so the
registry client, failures.py and the messages users see stay as they were when requests sent
every request; the urllib3 error is the first argument and the `__cause__`, for failures.py to read.
"""

from __future__ import annotations

from typing import Any, Optional

from urllib3 import exceptions as u3


class RequestException(IOError):
    """Any request that got no usable answer; `request` is what was sent, when known."""

    def __init__(self, *args: Any, request: Any = None, response: Any = None) -> None:
        super().__init__(*args)
        self.request = request
        self.response = response


class ConnectionError(RequestException):  # noqa: A001 - requests' name, kept for the readers of failures
    pass


class ProxyError(ConnectionError):
    pass


class SSLError(ConnectionError):
    pass


class Timeout(RequestException):
    pass


class ConnectTimeout(ConnectionError, Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class ChunkedEncodingError(RequestException):
    """The body broke off (cut short, reset) after the answer began."""


class ContentDecodingError(RequestException):
    pass


class TooManyRedirects(RequestException):
    pass


class RetryError(RequestException):
    pass


class InvalidHeader(RequestException):
    pass


def from_send(error: Exception, request: Any) -> Optional[RequestException]:
    """The requests exception for an error of urllib3's urlopen (None: not a transport error)."""
    if isinstance(error, u3.MaxRetryError):
        reason = error.reason
        if isinstance(reason, u3.ConnectTimeoutError) and not isinstance(reason, u3.NewConnectionError):
            return ConnectTimeout(error, request=request)
        if isinstance(reason, u3.ResponseError):
            return RetryError(error, request=request)
        if isinstance(reason, u3.ProxyError):
            return ProxyError(error, request=request)
        if isinstance(reason, u3.SSLError):
            return SSLError(error, request=request)
        return ConnectionError(error, request=request)
    if isinstance(error, u3.ClosedPoolError):
        return ConnectionError(error, request=request)
    if isinstance(error, u3.ProxyError):
        return ProxyError(error, request=request)
    if isinstance(error, u3.SSLError):
        return SSLError(error, request=request)
    if isinstance(error, u3.ReadTimeoutError):
        return ReadTimeout(error, request=request)
    if isinstance(error, u3.InvalidHeader):
        return InvalidHeader(error, request=request)
    if isinstance(error, (u3.ProtocolError, OSError)):
        return ConnectionError(error, request=request)
    return None


def from_body(error: Exception) -> Optional[RequestException]:
    """The requests exception for an error while a body streams in (None: not a transport error)."""
    if isinstance(error, u3.ProtocolError):
        return ChunkedEncodingError(error)
    if isinstance(error, u3.DecodeError):
        return ContentDecodingError(error)
    if isinstance(error, u3.ReadTimeoutError):
        return ConnectionError(error)
    if isinstance(error, u3.SSLError):
        return SSLError(error)
    return None
