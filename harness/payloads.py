"""Request bodies a simulated user sends, valid by construction (contract section 5).

Checks and tests start from these and break one thing at a time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .contract import OrderType, PaymentMethod

#: A test card number that passes the Luhn check.
TEST_CARD_NUMBER = "4242 4242 4242 4242"


def card(number: str = TEST_CARD_NUMBER, *, years_ahead: int = 3) -> dict[str, Any]:
    return {"number": number, "expMonth": 12, "expYear": date.today().year + years_ahead, "cvc": "123"}


def card_payment(**card_args: Any) -> dict[str, Any]:
    return {"method": PaymentMethod.CARD.value, "card": card(**card_args)}


def saved_payment(payment_method_id: str = "pm_saved_1") -> dict[str, Any]:
    return {"method": PaymentMethod.SAVED.value, "paymentMethodId": payment_method_id}


def items(count: int = 2, unit_price: float = 4.5) -> list[dict[str, Any]]:
    return [{"productId": f"p{i}", "name": f"Product {i}", "quantity": i + 1, "unitPrice": unit_price}
            for i in range(count)]


def address(lat: float | None = 52.52, lng: float | None = 13.405) -> dict[str, Any]:
    out: dict[str, Any] = {"street": "1 Test Street", "city": "Testville", "postalCode": "12345"}
    if lat is not None and lng is not None:
        out.update(lat=lat, lng=lng)
    return out


def checkout(order_type: OrderType = OrderType.DELIVERY, *, payment: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"items": items(), "orderType": order_type.value,
                            "payment": payment or card_payment()}
    if order_type is OrderType.DELIVERY:
        body["deliveryAddress"] = address()
    body.update(extra)
    return body


def guest_checkout(order_type: OrderType = OrderType.DELIVERY, *, name: str = "Guest",
                   email: str = "guest@example.test", **extra: Any) -> dict[str, Any]:
    body = checkout(order_type, **extra)
    body["guest"] = {"name": name, "email": email, "phone": "+1 555 0100"}
    return body
