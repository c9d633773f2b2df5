"""Privacy: columns holding personal data — e-mail addresses, phone numbers, card numbers (16 digits
passing Luhn), IBANs, people's names in free text.

Values are matched on a seeded sample with vectorised regular expressions. No matched value ever
leaves this module: findings and tables name the column and the kind only, and the columns found
are added to ``ctx.sensitive`` so that no other check prints their values either.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from challengers.audit.context import AuditContext, Section, pct, said_used_by, share

AREA = "privacy"

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
PHONE = (
    r"\+\d{1,3}[ .\-]?\(?\d{1,4}\)?(?:[ .\-]?\d{2,4}){2,5}"  # international, +32 470 12 34 56
    r"|\(?0\d{1,4}\)?[ .\-/]\d{2,4}(?:[ .\-]\d{2,4}){1,4}"  # national with a trunk 0
    r"|\(\d{3}\) ?\d{3}[ .\-]\d{4}"  # (555) 123-4567
)
CARD = r"(?:^|[^0-9])((?:[0-9][ \-]?){15}[0-9])(?:[^0-9]|$)"
LONG_DIGIT_RUN = r"(?:[0-9][ \-]?){15,}[0-9]"
IBAN_COUNTRIES = (  # noqa: SIM905
    "AD AE AL AT AZ BA BE BG BH BR BY CH CR CY CZ DE DK DO EE EG ES FI FO FR GB GE GI GL GR GT HR HU "
    "IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV MC MD ME MK MR MT MU NL NO PK PL PS PT QA RO RS SA SC "
    "SE SI SK SM ST SV TL TN TR UA VA VG XK"
).split()
IBAN = (
    r"\b(?:" + "|".join(IBAN_COUNTRIES) + r")[0-9]{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"
)
FIRST_NAMES = (  # noqa: SIM905
    "James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel "
    "Matthew Anthony Mark Paul Steven Andrew Kenneth Joshua Kevin Brian George Edward Peter Mary "
    "Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Betty Margaret "
    "Sandra Ashley Emily Donna Michelle Laura Anna Emma Olivia Sophie Julia Maria Jean Pierre Marie "
    "Luc Louis Jan Pieter Hans Klaus Stefan Jose Juan Carlos Luis Ana Carmen Giuseppe Marco "
    "Francesco Ahmed Mohamed Ali Fatima Wei Li Yuki Hiroshi Olga Ivan Sven Lars"
).split()
NAME = (
    r"\b(?:Mr|Mrs|Ms|Miss|Dr|Mme|Mlle|Herr|Frau)\.? [A-Z][a-z]+"
    r"|\b(?:" + "|".join(FIRST_NAMES) + r") [A-Z][a-z]+"
)
NAME_HINTS = {
    "email", "mail", "phone", "mobile", "tel", "telephone", "iban", "pan", "ssn", "name",
    "firstname", "lastname", "surname", "address", "street", "birth", "dob", "passport",
}  # fmt: skip
KINDS = ("e-mail addresses", "phone numbers", "card numbers", "IBANs", "personal names")


def check_privacy(ctx: AuditContext) -> Section:
    section = Section()
    candidates = _candidates(ctx)
    rows: list[dict[str, Any]] = []
    if candidates:
        n = int(ctx.daily["rows"].sum()) if ctx.daily is not None else 0
        sample = ctx.sample(pl.lit(True), n, ctx.limits.pii_sample_rows, candidates, salt=11)
        for column in candidates:
            found = _matches(sample.get_column(column))
            looked_at = found.pop("values")
            kinds = {k: v for k, v in found.items() if v >= ctx.limits.pii_min_matches}
            hint = _name_hint(column) and ctx.schema[column] == pl.String
            if kinds or hint:
                rows.append(_report(ctx, section, column, kinds, looked_at, hint))
    section.tables["personal_data"] = rows
    return section


def _candidates(ctx: AuditContext) -> list[str]:
    out = []
    for name, dtype in ctx.schema.items():
        if name == ctx.spec.time:
            continue
        text = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
        if text or (dtype.is_integer() and ctx.columns.get(name, {}).get("large_integers")):
            out.append(name)
    return out


def _matches(series: pl.Series) -> dict[str, int]:
    """Per kind, how many sampled values match; ``values``: how many were looked at."""
    text = series.cast(pl.String).drop_nulls()
    frame = pl.DataFrame({"v": text})
    v = pl.col("v")
    digits = v.str.extract(CARD, 1).str.replace_all(r"[^0-9]", "")
    # a phone number starts after a non-digit and is not part of a card-length digit run
    no_runs = v.str.replace_all(LONG_DIGIT_RUN, " ")
    phone = no_runs.str.extract(f"(?:^|[^0-9])({PHONE})", 1)
    phone_digits = phone.str.replace_all(r"[^0-9]", "").str.len_chars()
    row = frame.select(
        pl.len().alias("values"),
        v.str.contains(EMAIL).sum().alias(KINDS[0]),
        phone_digits.is_between(9, 15).sum().alias(KINDS[1]),
        (digits.str.len_chars() == 16).sum().alias("_card_candidates"),
        luhn_valid(digits).sum().alias(KINDS[2]),
        v.str.contains(IBAN).sum().alias(KINDS[3]),
        v.str.contains(NAME).sum().alias(KINDS[4]),
    ).row(0, named=True)
    # random 16-digit ids pass Luhn one time in ten: cards are when most candidates pass
    if row[KINDS[2]] < 0.5 * row["_card_candidates"]:
        row[KINDS[2]] = 0
    row.pop("_card_candidates")
    return {k: int(val or 0) for k, val in row.items()}


def luhn_valid(digits: pl.Expr) -> pl.Expr:
    """True for 16-digit strings passing the Luhn check (vectorised, digit by digit)."""
    total = pl.lit(0, dtype=pl.Int32)
    for i in range(16):
        d = digits.str.slice(i, 1).cast(pl.Int32, strict=False)
        if i % 2 == 0:  # every second digit from the right, counting the check digit as first
            d = d * 2
            d = pl.when(d > 9).then(d - 9).otherwise(d)
        total = total + d
    return (digits.str.len_chars() == 16) & (total % 10 == 0)


def _name_hint(column: str) -> bool:
    tokens = {t.lower() for t in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", column) if t}
    return bool(tokens & NAME_HINTS)


def _advice(used: list[str], role: str | None) -> str:
    text = ""
    if used:
        text += (
            f"It is a model input ({said_used_by(used)}): personal data must not be a feature, and "
            "tree split thresholds can carry its values into model files. "
        )
    if role:
        text += f"It is the {role} column: pseudonymise it (a keyed hash). "
    return text + (
        "Its values are never shown in this report; drop or pseudonymise the column before "
        "data reaches modelling."
    )


def _report(
    ctx: AuditContext,
    section: Section,
    column: str,
    kinds: dict[str, int],
    looked_at: int,
    hint: bool,
) -> dict[str, Any]:
    ctx.sensitive.add(column)
    used = ctx.used_by(column)
    role = ctx.roles.get(column)
    shares = {k: share(v, looked_at) for k, v in kinds.items()}
    if kinds:
        what = ", ".join(f"{k} ({pct(s)} of sampled values)" for k, s in shares.items())
        section.add(
            f"privacy-{column}",
            "high" if used else "medium",
            AREA,
            f"Column '{column}' holds personal data",
            f"It contains {what}. {_advice(used, role)}",
            used_by=used,
        )
    else:
        section.add(
            f"privacy-name-{column}",
            "low",
            AREA,
            f"Column '{column}' may hold personal data (by its name)",
            "No values matched a known pattern in the sample, but its name suggests personal "
            "data; check it. Its values are never shown.",
        )
    return {
        "column": column,
        "kinds": sorted(kinds),
        "shares": shares,
        "sampled_values": looked_at,
        "used_by": used,
        "role": role or "",
        "by_name_only": not kinds,
    }
