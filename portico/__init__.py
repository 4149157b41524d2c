"""Portico: function-backed HTTP APIs. Handlers import what they need from here."""

from portico.contract import Caller, Context, Message, Request, Response
from portico.problems import (
    BadRequest,
    Conflict,
    NotFound,
    Problem,
    Unauthorized,
    Unprocessable,
)

__all__ = [
    "BadRequest",
    "Caller",
    "Conflict",
    "Context",
    "Message",
    "NotFound",
    "Problem",
    "Request",
    "Response",
    "Unauthorized",
    "Unprocessable",
]
