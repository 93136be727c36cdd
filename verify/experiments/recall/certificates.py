"""Recall claims — sympy certificates (row 6 and the theory column of the other rows)."""

from __future__ import annotations

from verify.claims import RunContext

RULE_ROWS = {
    1: ("deltanet",), 2: ("gated_deltanet",), 3: ("gdn_miras_difference",), 4: ("longhorn",),
    5: ("miras_gated_delta", "gated_linear_attention", "gated_linear_attention_channel"), 7: ("memora",),
    8: ("moneta",), 9: ("moneta", "moneta_mirror"), 10: ("yaad",), 11: ("titans",), 12: ("mesa",),
}
FORMULA_ROWS = {
    15: ("cg_termination",), 16: ("damped_cg_stall",), 17: ("hessian_trace_bound", "chebyshev_steps"),
    19: ("mesa_limits",), 20: ("ridge_error", "mesa_readout"), 21: ("ridge_error", "ridge_error_random"),
    22: ("linear_attention_crosstalk", "unit_key_overlap"), 23: ("least_squares_error",),
    24: ("delta_projection",), 26: ("orthonormal_exactness",), 28: ("forgetting_window",),
}


def rules_run(p: dict, ctx: RunContext) -> dict:
    """Simplified residual of every update-rule derivation (§2.3), per explicit size d in ``p["dims"]``.

    Returns {rule: {str(d): [names of parts that did not simplify to 0]}}; an empty list is a certificate.
    """
    import theory.recall as th
    from theory.recall._sym import zero_matrix

    out: dict = {}
    for rule, derive in th.RULES.items():
        out[rule] = {}
        for d in p["dims"]:
            parts = th.certify(rule) if d == 2 else None
            if parts is not None:  # certify() stacks all parts; a zero column certifies every part
                bad = [] if all(x == 0 for x in parts) else ["residual"]
            else:
                der = derive(d, d)
                bad = [name for name, m in der.parts.items() if any(x != 0 for x in zero_matrix(m))]
            out[rule][str(d)] = bad
    return {"rules": out}


def formulas_run(p: dict, ctx: RunContext) -> dict:
    """Simplified certificates of every closed form of §4.3 and §6: {name: [parts that did not vanish]}."""
    import theory.recall as th
    from theory.recall._sym import zero_matrix

    out = {}
    for name in th.FORMULAS:
        out[name] = [part for part, m in th.certify_formula(name).items() if any(x != 0 for x in m)]
    for name, derive in th.CG_FORMULAS.items():
        out[name] = [part for part, m in derive().parts.items() if any(x != 0 for x in zero_matrix(m))]
    return {"formulas": out}


def _rules_ok(sym: dict, row: int) -> tuple[bool, str]:
    bad = {f"{r}(d={d})": parts for r in RULE_ROWS[row] for d, parts in sym["rules"][r].items() if parts}
    dims = sorted({d for r in RULE_ROWS[row] for d in sym["rules"][r]})
    text = f"sympy: {', '.join(RULE_ROWS[row])} certified (d = {', '.join(dims)})" if not bad else \
        f"sympy residual non-zero: {bad}"
    return not bad, text


def _with_certificate(s_ok: bool, s_text: str, reason: str) -> str:
    """A paper claim whose closed form does not certify cannot be judged: the reason names the residual."""
    return reason if s_ok else "; ".join(x for x in (f"closed form not certified ({s_text})", reason) if x)


def _formulas_ok(sym: dict, row: int) -> tuple[bool, str]:
    bad = {n: sym["formulas"][n] for n in FORMULA_ROWS[row] if sym["formulas"][n]}
    text = f"sympy: {', '.join(FORMULA_ROWS[row])} certified" if not bad else f"sympy residual non-zero: {bad}"
    return not bad, text


def _formula_result(results):
    return next(r for r in results if "formulas" in r)
