import pytest

from router.errors import ExpressionError
from router.expressions import Expression, tokenize

CTX = {
    "channel": "whatsapp",
    "language": "es",
    "message": "Hola, my INVOICE is wrong",
    "customer": {"tier": "gold", "age": 42, "vip": True},
    "prechat": {"topic": "billing"},
    "time": {"hour": 19, "weekday": "sat"},
    "tags": ["returning", "mobile"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('channel == "whatsapp"', True),
        ("channel != 'whatsapp'", False),
        ('customer.tier in ["gold", "platinum"]', True),
        ('customer.tier not in ["gold"]', False),
        ("customer.age >= 42 and customer.age < 43", True),
        ("customer.age > 42 or time.hour <= 18", False),
        ('message contains "invoice"', True),  # case-insensitive
        ('message contains "refund"', False),
        ('tags contains "mobile"', True),
        ("not (time.hour < 9 or time.hour >= 18)", False),
        ('time.weekday in ["sat", "sun"] and not prechat.topic == "tech"', True),
        ("customer.vip == true", True),
        ("customer.vip == 1", False),  # booleans are not numbers
        ("customer.missing == null", True),
        ("nothing.at.all == null", True),
        ('customer.age < "50"', False),  # text vs number compares false, never raises
        ("customer.age == 42.0", True),
        ('a or b or channel == "whatsapp"', True),
        ("x == 1 and y == 2 or true", True),  # and binds tighter than or
        ("true and (false or true)", True),
        ("-5 < 0", True),
        ('message contains "it\\"s"', False),
    ],
)
def test_expression_evaluates(text: str, expected: bool) -> None:
    assert Expression(text).evaluate(CTX) is expected


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('customer.tier = "gold"', 15, "'=' is not an operator"),
        ('channel == "sms', 12, "unterminated string"),
        ("channel == ", 12, "expected a value"),
        ("(channel == 1", 14, "expected ')'"),
        ("channel in 'x'", 12, "needs a [list]"),
        ("channel == 1 1", 14, "unexpected 1"),
        ("channel # 1", 9, "unexpected character '#'"),
        ("", 1, "empty condition"),
        ("a not b", 7, "expected 'in' after 'not'"),
        ("a in [b]", 7, "a list holds only literals"),
        ("1.2.3 == 1", 1, "malformed number"),
        ("customer. == 1", 11, "expected a name after '.'"),
    ],
)
def test_bad_expression_names_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        Expression(text)
    assert info.value.column == column
    assert fragment in str(info.value)


def test_tokenizer_reports_positions() -> None:
    tokens = tokenize('prechat.topic in ["a", 2]')
    assert [(t.kind, t.value, t.column) for t in tokens[:4]] == [
        ("name", "prechat", 1),
        ("op", ".", 8),
        ("name", "topic", 9),
        ("keyword", "in", 15),
    ]
    assert tokens[-1].kind == "end"


def test_expressions_never_call_eval() -> None:
    # A Python expression that eval would run is just a parse error here.
    with pytest.raises(ExpressionError):
        Expression("__import__('os').system('true')")
