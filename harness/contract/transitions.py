"""Which status moves exist, on which orders, and who may make each (contract sections 4, 8).

The table is data so that the server enforces it, the conformance checks walk all of it,
and the generated docs print it, from one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .model import OrderType, Role, Status


class Actor(StrEnum):
    """Who may make a move: a role, narrowed to the order's own customer or driver."""

    STORE_OWNER = "store_owner"
    ORDER_CUSTOMER = "order_customer"
    ASSIGNED_DRIVER = "assigned_driver"


class Via(StrEnum):
    """The request that makes a move."""

    PATCH_STATUS = "patch_status"
    ASSIGN_DRIVER = "assign_driver"


_BOTH_TYPES: Final = frozenset(OrderType)


@dataclass(frozen=True)
class Transition:
    source: Status
    target: Status
    actors: frozenset[Actor]
    order_types: frozenset[OrderType] = _BOTH_TYPES
    via: Via = Via.PATCH_STATUS


def _t(source: Status, target: Status, *actors: Actor, only: OrderType | None = None,
       via: Via = Via.PATCH_STATUS) -> Transition:
    types = frozenset({only}) if only else _BOTH_TYPES
    return Transition(source, target, frozenset(actors), types, via)


S, A = Status, Actor
TRANSITIONS: Final[tuple[Transition, ...]] = (
    _t(S.PENDING, S.PROCESSING, A.STORE_OWNER),
    _t(S.PENDING, S.CANCELLED, A.STORE_OWNER, A.ORDER_CUSTOMER),
    _t(S.PROCESSING, S.READY_FOR_PICKUP, A.STORE_OWNER, only=OrderType.PICKUP),
    _t(S.PROCESSING, S.READY_FOR_DELIVERY, A.STORE_OWNER, only=OrderType.DELIVERY),
    _t(S.PROCESSING, S.CANCELLED, A.STORE_OWNER),
    _t(S.READY_FOR_DELIVERY, S.DRIVER_ASSIGNED, A.STORE_OWNER, only=OrderType.DELIVERY,
       via=Via.ASSIGN_DRIVER),
    _t(S.DRIVER_ASSIGNED, S.PICKED_UP, A.ASSIGNED_DRIVER, only=OrderType.DELIVERY),
    _t(S.PICKED_UP, S.IN_TRANSIT, A.ASSIGNED_DRIVER, only=OrderType.DELIVERY),
    _t(S.IN_TRANSIT, S.DELIVERED, A.ASSIGNED_DRIVER, only=OrderType.DELIVERY),
    _t(S.READY_FOR_PICKUP, S.DELIVERED, A.STORE_OWNER, only=OrderType.PICKUP),
)
del S, A


def find_transition(source: Status, target: Status, order_type: OrderType) -> Transition | None:
    """The move from `source` to `target` on an order of this type, if the contract has one."""
    for t in TRANSITIONS:
        if t.source is source and t.target is target and order_type in t.order_types:
            return t
    return None


def allowed_next(source: Status, order_type: OrderType) -> list[Status]:
    """Every status an order of this type can move to from `source` (for 409 bodies)."""
    return [t.target for t in TRANSITIONS if t.source is source and order_type in t.order_types]


def actor_of(role: Role, *, is_order_customer: bool, is_assigned_driver: bool) -> Actor | None:
    """What a user is to one order; None when the role has no part in moving it."""
    if role is Role.STORE_OWNER:
        return Actor.STORE_OWNER
    if role is Role.CUSTOMER and is_order_customer:
        return Actor.ORDER_CUSTOMER
    if role is Role.DRIVER and is_assigned_driver:
        return Actor.ASSIGNED_DRIVER
    return None


def lifecycle(order_type: OrderType) -> list[Transition]:
    """The happy path of an order from `pending` to `delivered`, in order."""
    path: list[Transition] = []
    status = Status.PENDING
    while status is not Status.DELIVERED:
        step = next(
            t for t in TRANSITIONS
            if t.source is status and order_type in t.order_types and t.target is not Status.CANCELLED
        )
        path.append(step)
        status = step.target
    return path
