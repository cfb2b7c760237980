"""`autoops diagnose`: bearing diagnosis of one vibration record from the envelope spectrum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.app import app

_FREQ_FLAGS = ("--bpfo", "--bpfi", "--bsf", "--ftf")
_GEOM_FLAGS = ("--n-balls", "--ball-diameter", "--pitch-diameter", "--shaft-hz")


def _defect_frequencies(
    given: dict[str, float | None], geometry: dict[str, float | None], contact_angle: float
) -> Any:
    """Defect frequencies from either the four given values or the full geometry, never a mix."""
    from pydantic import ValidationError

    from agents.bearing import BearingGeometry, DefectFrequencies
    from agents.errors import InputError

    have_freqs = [
        flag for flag, v in zip(_FREQ_FLAGS, given.values(), strict=True) if v is not None
    ]
    have_geom = [
        flag for flag, v in zip(_GEOM_FLAGS, geometry.values(), strict=True) if v is not None
    ]
    if have_freqs and have_geom:
        raise InputError(
            f"give either the defect frequencies ({' '.join(_FREQ_FLAGS)}) or the bearing "
            f"geometry ({' '.join(_GEOM_FLAGS)}), not both; got {have_freqs + have_geom}"
        )
    try:
        if have_freqs:
            missing = [f for f in _FREQ_FLAGS if f not in have_freqs]
            if missing:
                raise InputError(f"defect frequencies incomplete: also give {' '.join(missing)}")
            return DefectFrequencies(**given)
        if have_geom:
            missing = [f for f in _GEOM_FLAGS if f not in have_geom]
            if missing:
                raise InputError(f"bearing geometry incomplete: also give {' '.join(missing)}")
            geom = BearingGeometry(
                n_balls=int(geometry["n_balls"] or 0),
                ball_diameter_mm=geometry["ball_diameter"],
                pitch_diameter_mm=geometry["pitch_diameter"],
                contact_angle_deg=contact_angle,
            )
            return DefectFrequencies.from_geometry(geom, float(geometry["shaft_hz"] or 0.0))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'bearing'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"bearing data not usable: {problems}") from exc
    except ValueError as exc:
        raise InputError(f"bearing data not usable: {exc}") from exc
    raise InputError(
        f"no bearing frequencies: give {' '.join(_FREQ_FLAGS)} (Hz), or the geometry "
        f"{' '.join(_GEOM_FLAGS)} [--contact-angle DEG]"
    )


@app.command()
def diagnose(
    # Annotated keeps the required Path option free of a call in its default (ruff B008).
    waveform: Annotated[
        Path, typer.Option(help="record: .npy, or text with samples (one a line, or , separated)")
    ],
    fs: float = typer.Option(..., help="sampling rate of the record in Hz"),
    bpfo: float | None = typer.Option(None, help="ball pass frequency, outer race (Hz)"),
    bpfi: float | None = typer.Option(None, help="ball pass frequency, inner race (Hz)"),
    bsf: float | None = typer.Option(None, help="ball spin frequency (Hz; not twice it)"),
    ftf: float | None = typer.Option(None, help="fundamental train (cage) frequency (Hz)"),
    n_balls: int | None = typer.Option(None, help="number of rolling elements"),
    ball_diameter: float | None = typer.Option(None, help="rolling element diameter (mm)"),
    pitch_diameter: float | None = typer.Option(None, help="pitch diameter (mm)"),
    contact_angle: float = typer.Option(0.0, help="contact angle (degrees)"),
    shaft_hz: float | None = typer.Option(None, help="shaft speed (Hz) for the geometry formulas"),
    band_low: float | None = typer.Option(None, help="envelope band low edge (Hz)"),
    band_high: float | None = typer.Option(None, help="envelope band high edge (Hz)"),
    ratio_threshold: float | None = typer.Option(
        None, help="how many times the local background a peak must be (default 4)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Decide one record's bearing condition (healthy, outer/inner race, ball, cage)."""
    from agents.bearing import DEFAULT_RATIO_THRESHOLD
    from agents.bearing import diagnose as run_diagnosis
    from agents.bearing_decision import decide
    from agents.errors import InputError
    from agents.replay import read_waveform

    if not fs > 0:
        raise InputError(f"--fs must be a positive sampling rate in Hz, got {fs}")
    freqs = _defect_frequencies(
        {"bpfo": bpfo, "bpfi": bpfi, "bsf": bsf, "ftf": ftf},
        {
            "n_balls": n_balls,
            "ball_diameter": ball_diameter,
            "pitch_diameter": pitch_diameter,
            "shaft_hz": shaft_hz,
        },
        contact_angle,
    )
    band: tuple[float, float] | None = None
    if (band_low is None) != (band_high is None):
        raise InputError("give both --band-low and --band-high, or neither")
    if band_low is not None and band_high is not None:
        band = (band_low, band_high)
    samples = read_waveform(waveform)
    threshold = ratio_threshold or DEFAULT_RATIO_THRESHOLD
    result = run_diagnosis(samples, fs, freqs, band=band, ratio_threshold=threshold)
    decision = decide(samples, fs, freqs, shaft_hz=shaft_hz, band=band, ratio_threshold=threshold)
    if as_json:
        out = {
            "file": str(waveform),
            "fs_hz": fs,
            "samples": int(samples.size),
            "duration_s": samples.size / fs,
            # The decision: one condition, its confidence, the others ranked (bearing_decision).
            "condition": decision.condition.value,
            "confidence": decision.confidence,
            "alternatives": [
                {"condition": c.condition.value, "confidence": c.confidence}
                for c in decision.alternatives
            ],
            "decision": decision.model_dump(mode="json"),
            # The decision again, as the list of faults it reports ("none" when healthy).
            "faults": ["none"] if decision.condition.value == "healthy" else [decision.condition.value],
            # Supporting detail: every kind whose line stands out on its own at the given
            # (nameplate) frequencies (agents.bearing.diagnose); the decision above weighs them.
            "lines_at_given_frequencies": [k.value for k in result.kinds],
            "frequencies_hz": freqs.model_dump(),
            **result.model_dump(mode="json"),
        }
        print(json.dumps(out))
        return
    print(f"{waveform}: {samples.size} samples at {fs:g} Hz ({samples.size / fs:.2f} s)")
    print(
        "defect frequencies: "
        + ", ".join(f"{k.upper()} {v:.2f} Hz" for k, v in freqs.model_dump().items())
    )
    others = ", ".join(f"{c.condition.value} {c.confidence:.2f}" for c in decision.alternatives)
    print(
        f"condition: {decision.condition.value} (confidence {decision.confidence:.2f}; "
        f"then {others}; shaft {decision.shaft_hz:.2f} Hz, {decision.speed_source})"
    )
    if decision.note:
        print(f"note: {decision.note}")
    print("evidence at the given frequencies (the condition above weighs it with harmonics, "
          "sidebands and the measured speed):")
    if not result.findings:
        print("  no envelope line stands out on its own")
    for finding in result.findings:
        print(f"  FOUND {finding.describe()}")
    for e in result.evidence:
        if not e.detected:
            note = f" [{e.note}]" if e.note else ""
            print(f"  checked {e.kind.value}: {e.ratio:.1f}x background{note}")
