"""Triage throughput on one core: the engine against a naive loop of one regex per rule.

    .venv/bin/python bench/triage.py

Two sets of ~1 KB tips, each timed for the engine and for the naive loop in this process, one
after the other, so the ratio holds on any machine even where the absolute figures do not:

- dense: labelled corpus tips glued together (English, Spanish, SMS, noise), about forty
  matches per tip, the worst case for the per-match work;
- realistic: single reports of the kind a hotline receives, a few indicators each.

The engine keeps nothing from one tip to the next (no word of a tip outlives the call), so
repeating tips flatters nothing. A calibration loop of plain Python gives the machine's own
baseline beside the figures.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This file is itself named triage.py: put the repository first so `triage` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from triage.engine import shipped_engine
from triage.evaluation import load_corpus
from triage.normalise import fold
from triage.rules import iter_phrases

TIP_BYTES = 1024
TIPS = 2000
ROUNDS = 5  # best of: the figure least disturbed by whatever else the machine runs
NAIVE_ROUNDS = 3
NAIVE_TIPS = 60  # the naive loop is slow; fewer tips give the same rate
CALIBRATION = 200_000

REPORTS = (
    "Hi, I am writing about the nail salon on Maple Avenue next to the laundromat, I go there "
    "every couple of weeks. Over the last few months I started noticing things that did not sit "
    "right with me. The same three young women are always there, from when it opens at nine in "
    "the morning until after eight at night, seven days a week as far as I can tell. One of them "
    "told me in broken English that she sleeps in the back with the others and that the owner "
    "keeps her passport until she pays back the money for the trip. She looked tired and very "
    "thin. When the owner came in from the parking lot she stopped talking and would not look at "
    "me again. A man in a grey pickup drops them off and picks them up, I think the plate started "
    "with 7KD but I did not get the rest. I do not know if this is trafficking or just a bad job, "
    "but it has been bothering me for weeks and my sister said I should report it. I can go back "
    "on Saturday if you want me to look for anything specific. Thank you for reading this.",
    "My cousin Daniela came to the city in March because a woman on Facebook offered her a job "
    "cleaning offices for good pay. When she arrived they told her the office job was gone and she "
    "had to work at a bar instead, serving drinks to men and sitting with them. She says she owes "
    "them four thousand dollars for the bus, the room and the clothes, and every week the debt "
    "gets bigger instead of smaller. She shares a room with five other girls above the bar and a "
    "man named Ruben holds their phones at night. She called me last Sunday crying from a phone "
    "she borrowed from a customer and said she is scared to leave because they know where her "
    "mother lives back home. I have a number she called from, 213 555 0187, but it may not be "
    "hers. The bar is called La Palma and it is on the corner of 5th and Alvarado, there is a "
    "blue door on the side street. Please tell me what I can do, I do not want to make things "
    "worse for her.",
    "Quiero reportar algo que vi en el rancho donde trabaja mi esposo cerca de Salinas. Hay un "
    "grupo de hombres que llegaron de Oaxaca hace como dos meses con un contratista que les "
    "prometió quince dólares la hora. Viven en un tráiler detrás de la bodega, doce hombres en un "
    "espacio muy chico, y el contratista les cobra la renta, la comida y el transporte, así que al "
    "final de la semana casi no les queda nada. Uno de ellos le dijo a mi esposo que el "
    "contratista tiene sus identificaciones y que les dijo que si hablan con alguien los va a "
    "entregar a la migra. Trabajan desde las cinco de la mañana hasta que se oscurece y no les "
    "dan día de descanso. No sé si esto es trata de personas, pero no me parece justo y tengo "
    "miedo de que les pase algo. El contratista maneja una camioneta blanca y siempre anda con "
    "otro señor que los vigila en el campo. Gracias por escuchar.",
    "Buenas noches, les escribo porque mi vecina de enfrente tiene a una muchacha trabajando en "
    "su casa desde hace casi un año. La muchacha se llama Rosa, creo que tiene como diecisiete "
    "años aunque dice que tiene veinte, y nunca la he visto salir sola. Limpia, cocina, cuida a "
    "los niños y por las noches la escucho lavando trastes hasta muy tarde. Una vez me pidió que "
    "le prestara mi teléfono para hablar con su mamá en Guatemala y me contó que la señora no le "
    "ha pagado desde que llegó porque dice que primero tiene que pagar el viaje. También me dijo "
    "que duerme en el cuarto de lavado. No quiero meterla en problemas, solo quiero saber si "
    "alguien puede revisar que esté bien. La casa está en la calle Jacarandas número 214, es la "
    "que tiene la reja verde. Por favor no digan que fui yo quien llamó, porque vivo aquí con mis "
    "hijos.",
    "hey so idk if this is the right place but theres this guy at my school who keeps posting "
    "about a modeling gig and my friend jess went to meet him last weekend. she said it was at a "
    "hotel off the highway, the one by the airport, and there were other girls there too, some "
    "looked younger than us. he took pics and said she could make 500 a night if she was nice to "
    "his friends. she didnt go back but now he keeps texting her and says he knows where she "
    "lives and that she owes him for the photos. shes 16 and really scared to tell her mom. he "
    "drives a black charger and his insta is something like prettygirlsmgmt. i dont want to get "
    "her in trouble i just dont know what to do and she made me promise not to call the police "
    "yet. is there a way to report him without her name? pls tell me what to do, we have school "
    "tomorrow and he said he would come by at 3 when we get out.",
    "I manage a small motel off Route 9 and I have been uneasy about a guest in room 114. He "
    "checked in a week ago and pays cash every morning for one more night. Different men come "
    "and go all day, usually for twenty or thirty minutes, and two young women stay in the room "
    "but I never see them leave except to get food from the vending machine, and he walks with "
    "them when they do. Last night one of the women came to the front desk alone and asked to use "
    "the phone, then she saw him in the parking lot and hung up and went back without saying "
    "anything. She had a bruise on her arm. The car he drives is a silver Nissan with out of "
    "state plates, I wrote down the number if you need it. I have not called the police because "
    "I am not sure and I do not want to put the women in danger if I am wrong. I will be at the "
    "desk until midnight tonight. Please let me know what you advise.",
)

# Narrative that fires (almost) nothing, to bring a report up to about 1 KB.
PADDING = (
    "I am sending this from my phone during my lunch break.",
    "Sorry if this is long, I wanted to give as much detail as I could remember.",
    "I have lived in this neighbourhood for about six years and know most of the families.",
    "It was raining that day and I remember the street was almost empty.",
    "I wrote this down the same evening so I would not forget the details.",
)


def dense_tips(count: int) -> list[str]:
    """~1 KB tips: corpus tips glued together in a random order, cut at a word."""
    corpus = [record["text"] for record in load_corpus()]
    rng = random.Random(3)
    tips = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p.encode()) + 1 for p in parts) < TIP_BYTES:
            parts.append(rng.choice(corpus))
        tips.append(_cut(" ".join(parts)))
    return tips


def realistic_tips(count: int) -> list[str]:
    """~1 KB single reports: each written report, padded with neutral narrative."""
    rng = random.Random(5)
    tips = []
    for index in range(count):
        parts = [REPORTS[index % len(REPORTS)]]
        while sum(len(p.encode()) + 1 for p in parts) < TIP_BYTES:
            parts.append(rng.choice(PADDING))
        tips.append(_cut(" ".join(parts)))
    return tips


def _cut(text: str) -> str:
    return text.encode()[:TIP_BYTES].decode(errors="ignore").rsplit(" ", 1)[0]


def naive_patterns() -> list[re.Pattern[str]]:
    """One compiled regular expression per rule: its phrases as an alternation."""
    engine = shipped_engine()
    patterns = []
    for rule in engine.rules.rules:
        words = set()
        for _lang, phrase in iter_phrases(rule):
            for key in engine.normaliser.phrase_keys(phrase):
                words.add(r"\s+".join(re.escape(t) for t in key.split()))
        patterns.append(re.compile(r"\b(?:" + "|".join(sorted(words)) + r")\b"))
    return patterns


def best_rate(run: Callable[[str], object], tips: list[str], rounds: int = ROUNDS) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for tip in tips:
            run(tip)
        best = max(best, len(tips) / (time.perf_counter() - start))
    return best


def calibrate() -> float:
    """Milliseconds for a fixed loop of plain Python: the machine's own yardstick."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        total = 0
        for i in range(CALIBRATION):
            total += i * i % 7
        best = min(best, time.perf_counter() - start)
    return best * 1000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    engine = shipped_engine()
    patterns = naive_patterns()

    def naive(tip: str) -> int:
        text = fold(tip)
        return sum(1 for pattern in patterns if pattern.search(text))

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()} "
        f"({platform.python_implementation()}); calibration loop: {calibrate():.1f} ms "
        f"for {CALIBRATION:,} iterations (lower is faster)"
    )
    print(f"rules: {len(engine.rules.rules)}, matcher keys: {engine.matcher.size}")
    for name, tips in (("dense", dense_tips(TIPS)), ("realistic", realistic_tips(TIPS))):
        size = sum(len(t.encode()) for t in tips) / len(tips)
        matches = sum(len(i.spans) for t in tips[:200] for i in engine.assess(t).indicators)
        engine.assess(tips[0])
        engine_rate = best_rate(engine.assess, tips)
        naive_rate = best_rate(naive, tips[:NAIVE_TIPS], NAIVE_ROUNDS)
        print(
            f"{name}: {len(tips)} tips of {size:.0f} bytes on average, "
            f"{matches / 200:.0f} indicator spans per tip"
        )
        print(
            f"  triage.assess (one automaton, full assessment): {engine_rate:9,.0f} tips/s "
            f"({1e6 / engine_rate:6.1f} us/tip)"
        )
        print(
            f"  naive loop, one regex per rule (matching only):  {naive_rate:9,.0f} tips/s "
            f"({1e6 / naive_rate:6.0f} us/tip)"
        )
        print(f"  ratio: {engine_rate / naive_rate:.0f}x")


if __name__ == "__main__":
    main()
