"""Identifiers shaped like the real ones (formats notes §1-§3), drawn from the month's seeded RNG.

Every maker takes a running sequence number so that ids are unique without a lookup table: the
random digits make them look real, the sequence digits make them distinct.
"""

from __future__ import annotations

import datetime as dt
import random

HEX = "0123456789abcdef"


class Ids:
    """Id factory bound to one ``random.Random``; the call order fixes the output."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seq = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def digits(self, n: int, first: str = "") -> str:
        body = "".join(self.rng.choice("0123456789") for _ in range(n - len(first)))
        return first + body

    def _tail(self, n: int) -> str:
        """n digits ending in the sequence number (unique), random in front."""
        s = str(self._next())
        return self.digits(n - len(s)) + s if n > len(s) else s[-n:]

    # --- Alipay / Tmall (§1.1, §3.1)
    def alipay_trade_no(self, day: dt.date) -> str:
        return f"{day:%Y%m%d}2200" + self._tail(16)

    def taobao_order_no(self) -> str:
        return self.digits(1, self.rng.choice("234")) + self._tail(18)

    # --- WeChat Pay (§2.1)
    def wechat_txn_no(self, day: dt.date) -> str:
        return "4200000" + self.digits(3) + f"{day:%Y%m%d}" + self._tail(10)

    def wechat_refund_no(self, day: dt.date) -> str:
        return "503" + self.digits(5) + f"{day:%Y%m%d}" + self._tail(13)

    def openid(self) -> str:
        chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "o" + "".join(self.rng.choice(chars) for _ in range(27))

    def appid(self) -> str:
        return "wx" + "".join(self.rng.choice(HEX) for _ in range(16))

    # --- JD (§3.2), Douyin (§3.4), PDD (§3.3)
    def jd_order_no(self) -> str:
        return "3" + self._tail(15)

    def jd_merchant_order_no(self) -> str:
        return self.digits(1, "1") + self._tail(26)

    def douyin_order_no(self) -> str:
        return "69" + self._tail(17)

    def pdd_order_no(self, day: dt.date) -> str:
        return f"{day:%y%m%d}-" + self._tail(15)

    # --- banks and ERP
    def bank_ref(self, prefix: str, n: int = 12) -> str:
        return prefix + self._tail(n)

    def plain(self, n: int) -> str:
        return self._tail(n)
