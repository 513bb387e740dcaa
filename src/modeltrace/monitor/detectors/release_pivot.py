"""Post-release pivot: an account that moves to a newly released model within hours of its release.

Why (provider reports §1): one distillation operation moved about half its traffic to a new model
within 24 h of its release — it wants the newest teacher first. A pivot alone is ordinary (testers and
evaluation harnesses try every release the same day), so it is not an alert on its own: it is a link
between accounts that pivot *together with the same request fingerprint*, and a group signal, in
:mod:`.coordination`. ``context/releases.json`` says when each model was released.
"""

from __future__ import annotations

DAY = 86400.0


class ReleaseWatch:
    """Answers "is this request a pivot to a fresh release?" for a list of ``(release time, model)``."""

    def __init__(self, releases: list[tuple[float, str]], window: float = DAY) -> None:
        self.window = window
        self.released = {model: when for when, model in sorted(releases)}

    def pivot(self, model: str | None, ts: float, first_seen: float) -> str | None:
        """The model, when the request goes to it within ``window`` of its release from an account that
        was active before the release (a new account is a signup, not a pivot); else None."""
        if model is None:
            return None
        released = self.released.get(model)
        if released is None or not 0.0 <= ts - released <= self.window or first_seen >= released:
            return None
        return model
