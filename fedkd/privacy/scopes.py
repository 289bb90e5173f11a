"""What a site's reported epsilon covers, by the code it reports."""

from __future__ import annotations

# What a site's reported epsilon covers, by the code sites report it with.
PRIVACY_SCOPES: dict[int, str] = {
    0: "no DP: no privacy guarantee",
    1: "the student's DP-SGD only: it does NOT cover the teacher's influence "
    "(the teacher saw this site's records without DP, and every soft label depends on them)",
    2: "the student's and the teacher's DP-SGD on this site's records, composed into one figure",
    3: "the student's DP-SGD; the teacher is declared trained on non-sensitive data",
    4: "the student's DP-SGD, and so all of this site's records: the teacher learnt from the run's public pool "
    "alone and never saw them",
}
