"""The chapter 03 exercise checks: the references pass, blanks are "not done yet", and each
known mistake is rejected with a message that names it."""

import math

import pytest
import torch

from course_lib import checks
from course_lib import divergences as dv


def blank(*args):
    raise NotImplementedError("Exercise: replace this line with your code")


def kl_careful(p, q, log=torch.log):
    """A student's KL that handles 0 log 0 (the base of the wrong answers below)."""
    return torch.where(p > 0, p * log(p / q), torch.zeros_like(p)).sum(-1)


def js_from(kl=kl_careful, half=0.5, mixture=lambda p, q: (p + q) / 2):
    def js(p, q):
        m = mixture(p, q)
        return half * (kl(p, m) + kl(q, m))

    return js


def test_the_references_pass(capsys):
    assert checks.check_kl_divergence(dv.kl_divergence).passed
    assert checks.check_js_divergence(dv.js_divergence).passed
    assert checks.check_optimal_discriminator(dv.optimal_discriminator).passed
    assert capsys.readouterr().out.count("✅") == 3


def test_a_plain_correct_student_answer_passes():
    assert checks.check_kl_divergence(kl_careful).passed
    assert checks.check_js_divergence(js_from()).passed
    kl_xlogy = lambda p, q: (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)  # noqa: E731
    assert checks.check_kl_divergence(kl_xlogy).passed
    assert checks.check_js_divergence(js_from(kl=kl_xlogy)).passed
    assert checks.check_optimal_discriminator(lambda r, f: r / (r + f)).passed


def test_blank_exercises_are_not_done_yet(capsys):
    for check in (
        checks.check_kl_divergence,
        checks.check_js_divergence,
        checks.check_optimal_discriminator,
    ):
        result = check(blank)
        assert not result.done and not result.passed
    # a JS written on top of a blank KL is not done either
    assert not checks.check_js_divergence(js_from(kl=blank)).done
    assert capsys.readouterr().out.count("not done yet") == 4


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (js_from(kl=lambda p, q: kl_careful(p, q, torch.log2)), "natural log.*not torch.log2"),
        (js_from(kl=lambda p, q: kl_careful(p, q, torch.log10)), "not torch.log10"),
        (js_from(half=1.0), "factor 1/2 is missing"),
        (lambda p, q: 0.5 * kl_careful(p, (p + q) / 2), "only the term of p"),
        (kl_careful, r"that is KL\(p \|\| q\), not JS"),
        (lambda p, q: kl_careful(q, p), r"that is KL\(q \|\| p\), not JS"),
        (
            lambda p, q: 0.5 * (kl_careful(p, q) + kl_careful(q, p)),
            "symmetrised KL",
        ),
        (js_from(mixture=lambda p, q: p + q), r"m = \(p \+ q\) / 2, not p \+ q"),
        (js_from(mixture=lambda p, q: p + q / 2), "mind the brackets"),
        (
            js_from(kl=lambda p, q: kl_careful(q, p)),  # KL(m || p) instead of KL(p || m)
            "KL arguments are reversed",
        ),
        (lambda p, q: js_from()(p, q).sum(), "not the batch total"),
        (lambda p, q: js_from()(p, q).mean(), "not the batch mean"),
        (lambda p, q: js_from()(p, q)[:, None], "without keepdim"),
        (
            lambda p, q: (
                0.5 * (p * torch.log(2 * p / (p + q)) + q * torch.log(2 * q / (p + q)))
            ).sum(0),
            "not over the batch",
        ),
        (
            lambda p, q: (
                0.5 * (p * torch.log(2 * p / (p + q)) + q * torch.log(2 * q / (p + q)))
            ).sum(-1),
            "returns NaN .*0 log 0 = 0",
        ),
    ],
)
def test_js_mistakes_are_named(wrong, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_js_divergence(wrong)


def test_js_log2_message_carries_the_numbers():
    with pytest.raises(checks.CheckFailed) as info:
        checks.check_js_divergence(js_from(kl=lambda p, q: kl_careful(p, q, torch.log2)))
    message = str(info.value)
    expected = float(message.split("expected [")[1].split(",")[0])
    got = float(message.split("got [")[1].split(",")[0])
    assert got == pytest.approx(expected / math.log(2), rel=1e-3)


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda p, q: kl_careful(q, p), "swapped"),
        (lambda p, q: kl_careful(p, q, torch.log2), "not torch.log2"),
        (lambda p, q: -kl_careful(p, q), "wrong sign"),
        (lambda p, q: (torch.log(p) - torch.log(q)).sum(-1), "weighted by p_i"),
        (lambda p, q: (p * torch.log(p / q)).sum(-1), "returns NaN"),
        (lambda p, q: kl_careful(p, q.clamp_min(1e-8)), r"should be \+inf"),
        (lambda p, q: kl_careful(p, q).sum(), "not the batch total"),
    ],
)
def test_kl_mistakes_are_named(wrong, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_kl_divergence(wrong)


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda r, f: f / (r + f), "real and fake are swapped"),
        (lambda r, f: r / f, "not by p_f"),
        (
            lambda r, f: torch.nan_to_num(r / (r + f)) * (f > 0),  # 0 where only p_r has mass
            r"one density is 0\): expected \[0, 1, 0.5\], got \[0, 0, 0.5\]",
        ),
        (lambda r, f: torch.full_like(r, 0.5), "not a constant 1/2"),
        (lambda r, f: torch.sigmoid(r - f), "sigmoid of p_r - p_f"),
    ],
)
def test_discriminator_mistakes_are_named(wrong, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_optimal_discriminator(wrong)


def test_a_crash_in_the_students_code_is_reported():
    with pytest.raises(checks.CheckFailed, match="js_divergence raised RuntimeError"):
        checks.check_js_divergence(lambda p, q: p @ q)


def test_use_or_reference_knows_the_chapter_03_exercises(capsys):
    assert checks.use_or_reference(blank, "js_divergence") is dv.js_divergence
    assert "not done yet" in capsys.readouterr().out
    assert checks.use_or_reference(js_from(half=1.0), "js_divergence") is dv.js_divergence
    assert "does not pass its check" in capsys.readouterr().out
    mine = js_from()
    assert checks.use_or_reference(mine, "js_divergence") is mine
    assert checks.use_or_reference(blank, "kl_divergence") is dv.kl_divergence
    assert checks.use_or_reference(blank, "optimal_discriminator") is dv.optimal_discriminator
