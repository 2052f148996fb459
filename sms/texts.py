"""What Hotline texts back, in the reporter's language, with the configured crisis numbers.

Every text is short enough for a few SMS segments; none repeats what the reporter wrote.
"""

from __future__ import annotations

from hotline.settings import Settings

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "safety": "If you or someone else is in danger right now, call for help now. {numbers}",
        "received": (
            "Thank you. Your report was received. Reference: {reference}. A hotline worker "
            "will read it and may answer here. Reply to add details. Reply DELETE to delete "
            "what you sent, STOP to stop messages, HELP for help."
        ),
        "numbers": "{numbers}",
        "added": "Thank you. We added this to your report.",
        "help": (
            "Hotline: report trafficking safely; your number is never shown to anyone. "
            "Text what you saw. {numbers} Reply STOP to stop, DELETE to delete what you "
            "sent, ES para español."
        ),
        "stop": "You will get no more messages from Hotline. Reply START to receive them again.",
        "start": "You will receive messages from Hotline again. Reply STOP to stop.",
        "delete": "What you sent to Hotline has been deleted. {numbers}",
        "language": "Hotline will answer you in English. Reply ES para español.",
    },
    "es": {
        "safety": "Si usted u otra persona está en peligro ahora, pida ayuda ya. {numbers}",
        "received": (
            "Gracias. Recibimos su reporte. Referencia: {reference}. Una persona de la línea "
            "lo leerá y puede responder aquí. Responda para agregar detalles. Responda BORRAR "
            "para borrar lo que envió, PARAR para no recibir mensajes, AYUDA para ayuda."
        ),
        "numbers": "{numbers}",
        "added": "Gracias. Lo agregamos a su reporte.",
        "help": (
            "Hotline: reporte la trata de personas con seguridad; nadie verá su número. "
            "Escriba lo que vio. {numbers} Responda PARAR para no recibir mensajes, BORRAR "
            "para borrar lo que envió, EN for English."
        ),
        "stop": "No recibirá más mensajes de Hotline. Responda START para recibirlos otra vez.",
        "start": "Recibirá mensajes de Hotline otra vez. Responda PARAR para no recibirlos.",
        "delete": "Lo que envió a Hotline fue borrado. {numbers}",
        "language": "Hotline le responderá en español. Reply EN for English.",
    },
}


class Texts:
    """Reply texts for one deployment's crisis numbers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _get(self, lang: str, name: str, **values: str) -> str:
        table = _TEXTS.get(lang) or _TEXTS["en"]
        numbers = self._settings.emergency_numbers_for(lang if lang in _TEXTS else "en")
        return table[name].format(numbers=numbers, **values)

    def first_reply(self, lang: str, *, reference: str, critical: bool) -> str:
        """The answer to a new tip: the safety text leads when triage says critical."""
        received = self._get(lang, "received", reference=reference)
        if critical:
            return f"{self._get(lang, 'safety')}\n{received}"
        return f"{received}\n{self._get(lang, 'numbers')}"

    def added(self, lang: str) -> str:
        return self._get(lang, "added")

    def help(self, lang: str) -> str:
        return self._get(lang, "help")

    def stop(self, lang: str) -> str:
        return self._get(lang, "stop")

    def start(self, lang: str) -> str:
        return self._get(lang, "start")

    def deleted(self, lang: str) -> str:
        return self._get(lang, "delete")

    def language(self, lang: str) -> str:
        return self._get(lang, "language")
