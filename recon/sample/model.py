"""The business month of one seller, as plain records: orders, refunds, balance movements, payouts.

Pure and deterministic: everything comes from one ``random.Random(seed)``, money is ``Decimal``,
and no clock is read. The writers only format what this module decides, so every file of the
month tells the same story (a payout in the Alipay 账务明细 is the credit in the CMB statement,
a refund in the WeChat bill is the 红字应收单 in the ERP).

Amounts on an ``Entry`` are signed from the seller's side (+ into the platform balance, - out).
Fee formulas are the seller's contract terms (``RATES``); ``plants.py`` bends a few of them on
purpose and records each bend in ``Month.planted``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from recon.sample.ids import Ids

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

CHANNELS = ("tmall", "jd", "douyin", "pdd", "wechatpay", "alipay")
WEIGHTS = (25, 20, 20, 15, 10, 10)
CUSTOMERS = {
    "tmall": "天猫旗舰店", "jd": "京东POP店", "douyin": "抖音小店", "pdd": "拼多多店",
    "wechatpay": "微信商城", "alipay": "支付宝当面付", "offline": "海外客户-Global Trade LLC",
}
# Contract fee rates per channel (the seller's agreements); amounts are round(base * rate, 2).
RATES = {
    "alipay_fee": Decimal("0.006"), "wechat_fee": Decimal("0.006"), "pdd_fee": Decimal("0.006"),
    "tmall_commission": Decimal("0.05"), "tmall_marketing": Decimal("0.06"),
    "tmall_payfee": Decimal("0.008"), "jd_commission": Decimal("0.05"),
    "jd_service": Decimal("0.01"), "douyin_service": Decimal("0.05"), "douyin_talent": Decimal("0.10"),
}
# Days between payment and the money reaching the seller's platform balance (buyer confirms).
SETTLE_LAG = {"tmall": (2, 6), "jd": (3, 6), "douyin": (2, 5), "pdd": (2, 5), "wechatpay": (0, 0),
              "alipay": (0, 0), "offline": (0, 0)}
PRODUCTS = (("保温杯 500ml", Decimal("59.00")), ("真空焖烧罐", Decimal("89.00")),
            ("儿童水杯", Decimal("39.90")), ("陶瓷马克杯", Decimal("29.90")),
            ("不锈钢饭盒", Decimal("129.00")), ("旅行茶具套装", Decimal("199.00")),
            ("咖啡随行杯", Decimal("69.00")), ("养生壶", Decimal("299.00")))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
PAYOUT_DAYS = (7, 14, 21, 28)
JD_BATCH_DAYS = (8, 15, 22, 29)
RESERVE = Decimal("500.00")  # platforms keep this much back when a payout sweeps the balance


def money(x) -> Decimal:
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_UP)


def fee_of(base: Decimal, rate_key: str) -> Decimal:
    return money(base * RATES[rate_key])


@dataclass
class SubOrder:
    sub_no: str
    product: str
    product_id: str
    list_amount: Decimal
    paid: Decimal  # what the buyer paid for this line (Douyin 订单实付应结)
    subsidy: Decimal = ZERO  # platform subsidy for this line (Douyin 实际平台补贴)
    service_fee: Decimal = ZERO
    talent_fee: Decimal = ZERO


@dataclass
class Refund:
    order: "Order"
    amount: Decimal
    at: dt.datetime
    refund_no: str
    request_no: str
    fee_back: Decimal = ZERO  # WeChat returns the fee in proportion
    commission_back: Decimal = ZERO
    insurance_back: Decimal = ZERO
    service_back: Decimal = ZERO  # JD returns the 交易服务费 with a full refund
    erp_date: dt.date | None = None  # credit-note date; None = the ERP has not booked it
    in_review: bool = False  # audit log shows a 二审/人工复核 after 退款成功
    on_platform: bool = True  # False: only the after-sale log (二审中, money not moved) and the ERP show it


@dataclass
class Order:
    channel: str
    order_no: str  # what the ERP keeps (formats notes / brief)
    merchant_order_no: str
    txn_no: str  # Alipay 支付宝交易号 / WeChat 微信订单号 / JD 27-digit 商户订单号 / Tmall 业务流水号
    created: dt.datetime
    settled: dt.datetime | None  # None: settles after the period (cut-off)
    product: str
    buyer: str
    list_amount: Decimal  # 订单金额 before the merchant's discount
    discount: Decimal = ZERO  # merchant discount actually applied
    coupon_name: str = ""
    subs: list = field(default_factory=list)  # Douyin sub-orders
    fee: Decimal = ZERO  # payment fee (Alipay/WeChat/PDD) or Tmall 花呗 payment fee
    commission: Decimal = ZERO
    service_fee: Decimal = ZERO  # JD 交易服务费
    marketing: Decimal = ZERO  # Tmall 淘宝客 (阿里妈妈)
    insurance: Decimal = ZERO  # JD 运费保险服务费
    currency: str = "CNY"
    refunds: list = field(default_factory=list)
    erp: dict = field(default_factory=dict)  # planted ERP deviations (see plants.py)

    @property
    def received(self) -> Decimal:
        """The goods amount the platform owes the seller before fees (ERP receivable amount)."""
        return self.list_amount - self.discount


@dataclass
class Entry:
    """One movement of a platform balance (or a JD settlement line)."""

    channel: str
    at: dt.datetime
    kind: str  # sale fee commission marketing payfee service insurance refund commission_back insurance_back payout
    amount: Decimal
    order: Order | None = None
    refund: Refund | None = None
    sub: SubOrder | None = None
    ref: str = ""
    balance: Decimal | None = None
    batch: "Payout | None" = None


@dataclass
class Payout:
    channel: str
    at: dt.datetime
    amount: Decimal  # positive: what leaves the platform and lands in the bank
    ref: str
    bank_at: dt.datetime
    bank: str  # cmb | icbc | mt940 | camt


@dataclass
class BankTxn:
    bank: str
    at: dt.datetime
    amount: Decimal
    counterparty: str
    counterparty_account: str
    summary: str
    ref: str
    customer_ref: str = ""
    channel: str | None = None
    currency: str = "CNY"


@dataclass
class Planted:
    """One planted discrepancy. ``platform_amount`` is what the platform (or bank) file shows;
    ``erp_amount`` what the other side shows: the ERP document, or for the fee plants
    (COMMISSION_NOT_REVERSED, SHIPPING_INSURANCE_NOT_REVERSED, FEE_RULE_DEVIATION) the amount the
    contract formula or reversal would give."""

    code: str
    channel: str | None
    order_no: str | None
    files: list
    differs: str
    platform_amount: Decimal | None = None
    erp_amount: Decimal | None = None

    def as_dict(self, files: dict) -> dict:
        return {"code": self.code, "channel": self.channel, "order_no": self.order_no,
                "files": sorted({files[f] for f in self.files}), "differs": self.differs,
                "platform_amount": None if self.platform_amount is None else str(self.platform_amount),
                "erp_amount": None if self.erp_amount is None else str(self.erp_amount)}


@dataclass
class Month:
    period: str
    start: dt.date
    end: dt.date  # exclusive (first day of the next month)
    seed: int
    orders: list
    entries: dict  # channel -> [Entry] in time order
    opening: dict  # channel/bank -> opening balance
    payouts: list
    bank: list
    fx: list  # (date, currency, mid_rate, unit)
    planted: list
    accounts: dict
    rng: random.Random | None = None  # the writers draw cosmetic details (flow numbers) from it

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def export_at(self) -> dt.datetime:
        """Every export is stamped the morning after the period: no wall clock anywhere."""
        return dt.datetime.combine(self.end, dt.time(9, 30, 0))

    def orders_of(self, channel: str) -> list:
        return [o for o in self.orders if o.channel == channel]


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(x) for x in period.split("-"))
    days = calendar.monthrange(year, month)[1]
    start = dt.date(year, month, 1)
    return start, start + dt.timedelta(days=days)


def masked_buyer(rng: random.Random, ids: Ids) -> str:
    name = "*" + rng.choice(SURNAMES)
    if rng.random() < 0.5:
        return f"{name}({ids.digits(3, '1')}******{ids.digits(2)})"
    return f"{name}({ids.digits(3)}***@example.com)"


def random_time(rng: random.Random, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=rng.randrange(15 * 3600))
