"""Writes the demo's bundled example: a customer-support set for a fictional shop.

The answers follow one written policy (the constants below), so a model
fine-tuned on them has something consistent to learn and the evaluation has a
real difference to find. ``support-extra.jsonl`` mixes good lines with a few
broken ones, for the validator to reject by line number. Output is
deterministic (a fixed seed); ``tests/demo/test_data.py`` checks that the
committed files are exactly what this writes.

    python -m tests.demo.generate_data
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "ftd" / "demo" / "data"
SEED = 20250611

SYSTEM = (
    "You are Fern, the customer support assistant of Larkspur Home, an online shop for "
    "furniture, lighting, kitchenware and textiles. Answer in a friendly, concise way, follow "
    "Larkspur's policies exactly, and never invent order details you have not been given."
)

ITEMS = [
    "oak side table",
    "linen duvet cover",
    "ceramic table lamp",
    "cast-iron skillet",
    "wool throw blanket",
    "bamboo bath mat",
    "walnut bookshelf",
    "stoneware dinner set",
    "rattan floor lamp",
    "velvet cushion cover",
    "glass storage jars",
    "teak serving board",
]
NAMES = ["Maya", "Tom", "Priya", "Lucas", "Aisha", "Jonas", "Elena", "Sam", "Grace", "Omar"]


def order_number(rng: random.Random) -> str:
    return f"LH-{rng.randint(10000, 99999)}"


# Each topic: question phrasings and an answer; {order}, {item} and {name} are filled in.
TOPICS: dict[str, tuple[list[str], str]] = {
    "order_status": (
        [
            "Where is my order {order}?",
            "Hi, my order {order} hasn't arrived yet. Can you check on it?",
            "Can you tell me the status of order {order}? I ordered a {item}.",
            "I placed order {order} last week and still have no tracking number.",
        ],
        "Thanks for reaching out! Orders usually leave our warehouse within 1-2 business days, "
        "and you'll get an email with the tracking number as soon as {order} ships. You can also "
        "follow it any time under Account > Orders. If it has been more than 7 business days "
        "without a tracking update, reply here and I'll open a trace with the carrier.",
    ),
    "return_policy": (
        [
            "What's your return policy?",
            "Can I return the {item} I bought?",
            "How many days do I have to send something back?",
            "I changed my mind about my {item}. Can I still return it?",
        ],
        "You can return most items within 30 days of delivery, as long as they're unused and in "
        "their original packaging. Start the return under Account > Orders > Return items; the "
        "return label costs $6.95, which is taken from your refund. Once we receive the item, "
        "your refund is issued within 5-7 business days.",
    ),
    "damaged_item": (
        [
            "My {item} arrived broken.",
            "The {item} from order {order} came damaged. What do I do?",
            "Hi, there's a crack in the {item} I just received.",
            "Part of my {item} is missing and the box was crushed.",
        ],
        "I'm so sorry your {item} arrived damaged! Please send us a photo of the item and the "
        "packaging within 7 days of delivery by replying here. As soon as we have it, we'll ship "
        "a free replacement, or refund you in full if you prefer. There's no need to send the "
        "damaged item back.",
    ),
    "refund_timing": (
        [
            "When will I get my refund?",
            "I sent back my return for order {order} a week ago. Where's my money?",
            "How long do refunds take?",
            "My return was delivered to you but I haven't been refunded yet.",
        ],
        "Refunds are issued within 5-7 business days after your return reaches our warehouse, "
        "to the original payment method. Your bank may take another 3-5 business days to show "
        "it. You'll get an email the moment we issue the refund.",
    ),
    "cancel_order": (
        [
            "Can I cancel order {order}?",
            "I need to cancel my order, I ordered the wrong {item}.",
            "How do I cancel an order I placed this morning?",
            "Please cancel {order}.",
        ],
        "Orders can be cancelled free of charge until they ship. Go to Account > Orders, open "
        "the order and choose Cancel order; if that button is gone, the order has already left "
        "the warehouse, and you can return it within 30 days of delivery instead.",
    ),
    "change_address": (
        [
            "I entered the wrong shipping address for {order}.",
            "Can I change the delivery address on my order?",
            "I'm moving next week. Can you send order {order} to my new address?",
        ],
        "We can change the address as long as the order hasn't shipped yet. Reply with the full "
        "new address and I'll update {order} for you. Once an order has shipped, the address "
        "can only be changed with the carrier, using the link in your tracking email.",
    ),
    "shipping_times": (
        [
            "How long does shipping take?",
            "How much is delivery?",
            "Do you have express shipping?",
            "When would a {item} arrive if I order today?",
        ],
        "Standard shipping takes 3-5 business days and is free on orders over $50 (otherwise "
        "$5.95). Express shipping takes 1-2 business days and costs $12.95. Orders placed before "
        "2 pm Eastern on a business day leave the warehouse the same day.",
    ),
    "international": (
        [
            "Do you ship to Canada?",
            "Can I order from the UK?",
            "Do you ship internationally?",
            "I live in Germany. Can I buy a {item} from you?",
        ],
        "We currently ship within the United States, to Canada and to the United Kingdom. "
        "International orders take 7-12 business days; import duties and taxes are calculated "
        "at checkout, so there are no surprises on delivery. We don't ship to other countries "
        "yet.",
    ),
    "double_charge": (
        [
            "I was charged twice for order {order}.",
            "Why do I see two charges on my card?",
            "There's a duplicate payment on my statement from Larkspur.",
        ],
        "Sorry for the worry! When a payment is retried, your bank may briefly show a pending "
        "authorisation next to the real charge. The pending one disappears on its own within "
        "3-5 business days. If both charges are still there after that, reply with the last "
        "four digits of the card and I'll refund the duplicate right away.",
    ),
    "payment_methods": (
        [
            "What payment methods do you accept?",
            "Can I pay with PayPal?",
            "Do you take Apple Pay?",
            "Can I pay for the {item} in instalments?",
        ],
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and Google Pay, as well "
        "as Larkspur gift cards. On orders over $150 you can also choose to pay in 4 interest-"
        "free instalments at checkout.",
    ),
    "invoice": (
        [
            "Can I get an invoice for order {order}?",
            "I need a receipt with VAT for my company.",
            "Where do I find the invoice for my order?",
        ],
        "Your invoice is available as a PDF under Account > Orders: open the order and choose "
        "Download invoice. If you need a company name or tax number on it, reply with the "
        "details and I'll issue a corrected invoice within one business day.",
    ),
    "password_reset": (
        [
            "I forgot my password.",
            "How do I reset my password?",
            "I can't log in to my account.",
            "The password reset email never arrived.",
        ],
        "No problem! Choose Forgot password on the sign-in page and enter the email address of "
        "your account; the reset link arrives within a few minutes and is valid for 1 hour. "
        "Please check your spam folder too. If it still hasn't arrived, reply here and I'll "
        "send it again.",
    ),
    "change_email": (
        [
            "How do I change the email on my account?",
            "I want to update my email address.",
            "Can I change the email address I log in with?",
        ],
        "You can change it under Account > Profile > Email. We'll send a confirmation link to "
        "the new address, and the change takes effect once you click it. Your orders and "
        "rewards points stay with your account.",
    ),
    "delete_account": (
        [
            "Please delete my account.",
            "How do I close my Larkspur account?",
            "I want you to remove all my personal data.",
        ],
        "I'm sorry to see you go. You can delete your account under Account > Privacy > Delete "
        "account; we remove your personal data within 30 days, except order records we must "
        "keep for tax purposes. Any unused rewards points and store credit are lost, so you may "
        "want to use them first.",
    ),
    "discount_code": (
        [
            "My discount code isn't working.",
            "Can I use two promo codes on one order?",
            "The code WELCOME10 says it's invalid.",
            "Can I use a discount code on a gift card?",
        ],
        "Only one discount code can be used per order, and codes can't be applied to gift cards "
        "or to items already on sale. Please also check the code's expiry date in the email "
        "you received. If it still doesn't work, reply with the code and I'll take a look.",
    ),
    "warranty": (
        [
            "Is there a warranty on the {item}?",
            "My {item} stopped working after 8 months.",
            "What does your warranty cover?",
        ],
        "Furniture comes with a 2-year warranty and lighting and electrical items with a 1-year "
        "warranty, both from the delivery date. They cover manufacturing defects, not wear or "
        "accidental damage. Reply with your order number and a photo or short video of the "
        "problem, and we'll arrange a repair or replacement.",
    ),
    "gift_cards": (
        [
            "Do gift cards expire?",
            "Can I get cash back for my gift card?",
            "How do I check my gift card balance?",
        ],
        "Larkspur gift cards never expire. They can't be exchanged for cash, but you can use "
        "them over several orders; the balance is shown at checkout when you enter the card "
        "number, and under Account > Gift cards.",
    ),
    "rewards": (
        [
            "How does Larkspur Rewards work?",
            "How many points do I get per order?",
            "How do I use my rewards points?",
        ],
        "With Larkspur Rewards you earn 1 point for every dollar you spend, and every 100 points "
        "are worth $5 off a future order. Points are added once your order has shipped and can "
        "be redeemed at checkout; they expire after 12 months without any purchase.",
    ),
    "exchange": (
        [
            "Can I exchange my {item} for a different colour?",
            "I'd like a different size of the {item}.",
            "Can I swap an item instead of returning it?",
        ],
        "We don't do direct exchanges, but the quickest way is to return the {item} within 30 "
        "days of delivery (under Account > Orders > Return items) and place a new order for the "
        "one you want. If it's the same price, the return label is free for exchanges: mention "
        "'exchange' in the return reason.",
    ),
}

FOLLOW_UPS: list[tuple[str, str]] = [
    ("Thanks! And how long will the refund take?", "refund_timing"),
    ("Great. Do you ship to Canada as well?", "international"),
    ("OK. Also, what payment methods do you accept?", "payment_methods"),
    ("Thank you. Is there a warranty on it?", "warranty"),
]


def _fill(text: str, rng: random.Random, order: str, item: str) -> str:
    return text.format(order=order, item=item, name=rng.choice(NAMES))


OPENERS = ["", "", "Hi, ", "Hello! ", "Hi Fern, ", "Good morning. ", "Hey there, "]
CLOSERS = ["", "", " Thanks!", " Thank you.", " Thanks in advance.", " Cheers"]


def _question(rng: random.Random, text: str) -> tuple[str, str | None]:
    """A customer's message around the question, and their name if they gave it."""
    if rng.random() < 0.25:
        name = rng.choice(NAMES)
        return f"Hello, this is {name}. {text}{rng.choice(CLOSERS)}", name
    opener = rng.choice(OPENERS)
    if opener.endswith(", ") and text[:2] != "I " and not text.startswith("I'"):
        text = text[0].lower() + text[1:]
    return f"{opener}{text}{rng.choice(CLOSERS)}", None


def examples(rng: random.Random, per_topic: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    for topic, (questions, answer) in TOPICS.items():
        for i in range(per_topic):
            while True:  # no two examples alike: duplicates teach nothing
                order, item = order_number(rng), rng.choice(ITEMS)
                template = questions[i % len(questions)]
                question, name = _question(rng, _fill(template, rng, order, item))
                if question not in seen:
                    seen.add(question)
                    break
            reply = _fill(answer, rng, order, item)
            if name is not None:
                reply = f"Hi {name}! {reply}"
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": reply},
            ]
            if topic in ("damaged_item", "return_policy", "order_status") and i == 0:
                follow, next_topic = FOLLOW_UPS[len(out) % len(FOLLOW_UPS)]
                messages += [
                    {"role": "user", "content": follow},
                    {
                        "role": "assistant",
                        "content": _fill(TOPICS[next_topic][1], rng, order, item),
                    },
                ]
            out.append({"messages": messages})
    rng.shuffle(out)
    return out


def broken_lines(rng: random.Random) -> list[str]:
    """Good lines with a few deliberate faults among them, each of a different kind."""
    good = [json.dumps(e, ensure_ascii=False) for e in examples(rng, 2)][:30]
    faults = [
        # cut off mid-line, as a failed export leaves it
        good[0][: len(good[0]) // 2],
        # a role the API does not know
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "customer", "content": "Where is my order LH-20411?"},
                    {"role": "assistant", "content": "Let me check that for you."},
                ]
            }
        ),
        # nothing for the model to learn: no assistant turn
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "Do you ship to Canada?"},
                ]
            }
        ),
        # a message without a role
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"content": "How long does shipping take?"},
                    {"role": "assistant", "content": "Standard shipping takes 3-5 business days."},
                ]
            }
        ),
        # an empty answer
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "Can I pay with PayPal?"},
                    {"role": "assistant", "content": ""},
                ]
            }
        ),
    ]
    lines = good[1:]
    for index, fault in enumerate(faults):
        lines.insert(3 + index * 6, fault)
    return lines


def render() -> dict[str, str]:
    """File name -> content of every bundled data file."""
    rng = random.Random(SEED)
    support = [json.dumps(e, ensure_ascii=False) for e in examples(rng, 11)]
    extra = broken_lines(rng)
    return {
        "support.jsonl": "\n".join(support) + "\n",
        "support-extra.jsonl": "\n".join(extra) + "\n",
    }


def main() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in render().items():
        (DATA_DIR / name).write_text(content, encoding="utf-8")
        print(f"wrote {DATA_DIR / name}: {content.count(chr(10))} lines")


if __name__ == "__main__":
    main()
