//! What customers write: review titles and bodies and messages (chat, support, feedback), built
//! from hundreds of template sentences and product-category details, coloured by emotion and
//! persona. `{title}`, `{brand}`, `{word}`, `{days}` and the agreement placeholders (`{is}`,
//! `{it}`, `{a}`… for "earbuds are" against "lamp is") are filled here; `{order}` is filled once
//! order numbers are known.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::persona::Persona;
use crate::weighted;

/// The emotion a text expresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emotion {
    Joy,
    Surprise,
    Neutral,
    Fear,
    Sadness,
    Anger,
    Disgust,
}

/// What a text is about.
pub struct Ctx<'a> {
    pub title: &'a str,
    pub brand: &'a str,
    pub word: &'a str,
    pub category: usize,
    pub days: i64,
    /// The product word is plural ("earbuds", "running shoes"): verbs and pronouns agree.
    pub plural: bool,
}

/// Why a customer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    PreSale,
    Anxious,
    Concierge,
    WismoWorried,
    WismoAngry,
    Problem(Problem),
    Escalation,
    Goodbye,
    PriceAdjust,
    ReturnRequest,
    Praise,
    SurpriseNote,
}

/// What went wrong with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Damaged,
    Late,
    WrongItem,
    Defective,
    NotAsDescribed,
    Dirty,
}

impl Problem {
    pub const ALL: [Problem; 6] = [
        Problem::Damaged,
        Problem::Late,
        Problem::WrongItem,
        Problem::Defective,
        Problem::NotAsDescribed,
        Problem::Dirty,
    ];

    /// The refund reason a platform would record.
    pub fn refund_reason(self) -> &'static str {
        match self {
            Problem::Damaged => "damaged",
            Problem::Late => "late_delivery",
            Problem::WrongItem => "wrong_item",
            Problem::Defective => "defective",
            Problem::NotAsDescribed => "not_as_described",
            Problem::Dirty => "not_as_described",
        }
    }

    /// The emotion a review about this problem carries.
    pub fn emotion(self) -> Emotion {
        match self {
            Problem::Dirty => Emotion::Disgust,
            Problem::Late => Emotion::Sadness,
            _ => Emotion::Anger,
        }
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len() as u32) as usize]
}

/// Fill the placeholders known now (`{order}` stays).
fn fill(template: &str, ctx: &Ctx) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        match &after[..end] {
            "{title}" => out.push_str(ctx.title),
            "{brand}" => out.push_str(ctx.brand),
            "{word}" => out.push_str(ctx.word),
            "{days}" => out.push_str(&ctx.days.to_string()),
            "{a}" if !ctx.plural => {
                let vowel = ctx.word.starts_with(['a', 'e', 'i', 'o', 'u']);
                out.push_str(if vowel { "an " } else { "a " });
            }
            "{a}" => {}
            grammar => out.push_str(agree(grammar, ctx.plural)),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Singular and plural forms of the agreement placeholders; unknown placeholders stay as they are.
fn agree(placeholder: &str, plural: bool) -> &str {
    let (one, many) = match placeholder {
        "{is}" => ("is", "are"),
        "{Is}" => ("Is", "Are"),
        "{isnt}" => ("isn't", "aren't"),
        "{was}" => ("was", "were"),
        "{it}" => ("it", "they"),
        "{It}" => ("It", "They"),
        "{its}" => ("it's", "they're"),
        "{Its}" => ("It's", "They're"),
        "{this}" => ("this", "these"),
        "{This}" => ("This", "These"),
        "{does}" => ("does", "do"),
        "{Does}" => ("Does", "Do"),
        "{doesnt}" => ("doesn't", "don't"),
        "{s}" => ("s", ""),
        "{es}" => ("es", ""),
        other => (other, other),
    };
    if plural { many } else { one }
}

/// Join a lead-in and a sentence, lower-casing the sentence's first letter when it continues the
/// lead-in ("Sorry to bother you, does …").
fn lead_in(prefix: &str, body: String, ctx: &Ctx) -> String {
    if prefix.is_empty() {
        return body;
    }
    let continues = prefix.ends_with(' ')
        && prefix
            .trim_end()
            .chars()
            .last()
            .is_some_and(|c| c == ',' || c == ':' || c == '—' || c.is_alphabetic());
    let keep = body.starts_with("I ")
        || body.starts_with("I'")
        || (!ctx.brand.is_empty() && body.starts_with(ctx.brand))
        || (!ctx.title.is_empty() && body.starts_with(ctx.title));
    if continues && !keep {
        let mut chars = body.chars();
        if let Some(first) = chars.next() {
            return format!("{prefix}{}{}", first.to_lowercase(), chars.as_str());
        }
    }
    format!("{prefix}{body}")
}

// ---------------------------------------------------------------------------------------------
// Reviews

const REVIEW_TITLES: [&[&str]; 7] = [
    &[
        "Absolutely love it",
        "Five stars",
        "Exceeded my expectations",
        "Perfect!",
        "So happy with this",
        "Best purchase this year",
        "Would buy again",
        "Brilliant quality",
        "Love love love",
        "Just what I wanted",
        "Fantastic {word}",
        "My new favourite {word}",
    ],
    &[
        "Better than expected",
        "Pleasantly surprised",
        "Wow",
        "Did not expect this quality",
        "Surprisingly good",
        "Arrived so fast!",
        "A nice surprise",
        "Who knew?",
    ],
    &[
        "It's okay",
        "Does the job",
        "Decent for the price",
        "As described",
        "Average",
        "Fine, nothing special",
        "Good but not great",
        "Solid enough",
        "Okay {word}",
    ],
    &[
        "Not sure yet",
        "Hope it lasts",
        "A bit worried about durability",
        "Fingers crossed",
        "Mixed feelings",
    ],
    &[
        "Disappointed",
        "Not what I hoped",
        "Sadly returning this",
        "Expected more",
        "Let down",
        "Such a shame",
        "Wanted to love it",
    ],
    &[
        "Terrible experience",
        "Avoid",
        "Waste of money",
        "Do not buy",
        "Completely unacceptable",
        "Never again",
        "Broken {word}",
    ],
    &[
        "Disgusting quality",
        "Gross",
        "Cheap and nasty",
        "Smelled awful",
        "Revolting",
        "Absolutely vile",
    ],
];

const REVIEW_MAIN: [&[&str]; 7] = [
    // Joy
    &[
        "I absolutely love the {title}.",
        "The {title} {is} everything I hoped for.",
        "{This} {word} {is} gorgeous and the quality is spot on.",
        "Honestly the best {word} I've ever owned.",
        "{brand} have done it again, the {word} {is} perfect.",
        "I've been using the {title} every day and {it} still feel{s} brand new.",
        "So happy I finally bought the {title}.",
        "The {word} look{s} even better in person.",
        "Great value, and it arrived beautifully packaged.",
        "My partner loved the {word} I gave them as a gift.",
        "Everything about the {title} feels premium.",
        "I'm thrilled with {this} {word}.",
        "{This} {word} made my week.",
        "Five stars without hesitation for the {title}.",
        "Really pleased with the {title}, {it} work{s} exactly as described.",
        "The {word} {is} so well made that I'm ordering more.",
        "It's rare to find {a}{word} this good at this price.",
        "Delighted with my {title}.",
    ],
    // Surprise
    &[
        "I wasn't expecting much, but the {title} blew me away.",
        "The {word} arrived a day early, which was a lovely surprise.",
        "Wow, the {word} {is} much better quality than the photos suggest.",
        "I didn't expect {a}{word} at this price to feel so solid.",
        "I was surprised by how light the {title} {is}.",
        "Ordered on a whim and the {word} turned out to be fantastic.",
        "Unexpectedly, the {title} {is} now my favourite thing I own.",
        "It came with a handwritten note, which I did not expect at all.",
        "Surprisingly, the {word} {was} perfect straight out of the box.",
        "Honestly shocked at how good the {title} {is}.",
        "I expected the {word} to be smaller, but {its} just right.",
    ],
    // Neutral
    &[
        "The {title} {is} fine and {does} what {it} say{s}.",
        "Okay-ish {word}, nothing special.",
        "Decent {word} for the price.",
        "The {title} match{es} the description.",
        "Average quality, but it works.",
        "Standard {word}, nothing surprising.",
        "Delivery took about {days} days, which is normal.",
        "The {word} {is} acceptable, though the colour is slightly different from the photos.",
        "Does the job. I might try a different brand next time.",
        "Packaging was basic but the {word} arrived intact.",
        "Reasonable {word} if you don't need anything fancy.",
        "Works as expected after {days} days of use.",
        "The {title} {is} good, though not as nice as I'd hoped.",
    ],
    // Fear
    &[
        "I'm a bit worried the {word} won't last; {it} already feel{s} a bit flimsy.",
        "Not sure the {title} will survive daily use, time will tell.",
        "{It} look{s} nice, but I'm nervous about how {it} will hold up.",
        "The {word} work{s} for now, but I'm worried {it} will break soon.",
        "I'm anxious that I picked the wrong size and the return policy isn't clear.",
        "Hoping the {word} {doesnt} fade like my last ones did.",
        "I'm not sure the {title} {is} worth the price yet.",
        "A little concerned the {word} already show{s} signs of wear.",
    ],
    // Sadness
    &[
        "Sadly the {title} didn't live up to the photos.",
        "I was really looking forward to the {word}, but {its} disappointing.",
        "It was meant to be a birthday gift and now I have nothing to give.",
        "The {word} started falling apart after {days} days, which made me sad.",
        "I wanted to love the {title}, I really did.",
        "Such a shame, the {word} looked lovely but {is} poorly made.",
        "Disappointed that the {word} {doesnt} match the description.",
        "The {title} just {isnt} what I expected, and I feel let down.",
        "It's a pity, because the last {brand} product I bought was great.",
        "Unfortunately it arrived too late for the trip I bought it for.",
    ],
    // Anger
    &[
        "The {title} broke after {days} days. Absolutely unacceptable.",
        "Worst {word} I've ever bought, a complete waste of money.",
        "It arrived damaged and customer service ignored me.",
        "I'm furious: the {word} {is} nothing like the pictures.",
        "Do not buy the {title}. {It} stopped working within a week.",
        "I paid full price and got {a}{word} that look{s} second-hand.",
        "Three emails and still no answer about my broken {word}.",
        "Terrible quality from {brand}, never again.",
        "The {word} {is} a rip-off at this price.",
        "Completely useless {word}, I want my money back.",
    ],
    // Disgust
    &[
        "The {title} arrived with a stain on {it}. Gross.",
        "The {word} smelled of chemicals for days, disgusting.",
        "Cheap, nasty plastic. I can't believe {brand} sells this.",
        "There was hair stuck inside the {word}. Revolting.",
        "The {word} looked used and dirty when I opened the box.",
        "Honestly repulsive quality, the {word} went straight in the bin.",
        "The smell of the {word} made me feel sick.",
    ],
];

const REVIEW_PERSONA_JOY: [&[&str]; 6] = [
    &[
        "OBSESSED with the {title}!!",
        "Ordered it at 1am and zero regrets.",
        "I saw it, I wanted it, I love it!",
        "Literally screamed when I opened the box!!",
        "Already want it in every colour!",
    ],
    &[
        "Got the {word} on sale and {its} great value.",
        "Worth it at the discounted price.",
        "Glad I waited for the price drop, the {word} {is} lovely.",
    ],
    &[
        "Excellent {word} from {brand} again; consistent quality every time.",
        "I only buy {brand} now and the {title} show{s} why.",
        "As always with this shop, the {word} {is} exactly right.",
        "Reliable as ever. {brand} is my go-to.",
        "Ordered again and it's just as good as last time.",
    ],
    &[
        "Read a lot of reviews before choosing the {title} and I'm glad I did.",
        "Compared it with a dozen others and {this} {word} {is} the best.",
    ],
    &[
        "The {title} {is} exquisite; the finishing is impeccable.",
        "A truly elegant piece. {brand} never disappoints.",
        "Beautiful craftsmanship and discreet, elegant packaging.",
        "The {word} feel{s} like an heirloom.",
        "Understated luxury at its finest.",
    ],
    &[
        "It's good, I'll give them that.",
        "No complaints this time.",
    ],
];

const DETAILS: [[&[&str]; 2]; 8] = [
    [
        &[
            "The fit is true to size.",
            "The fabric is soft and breathable.",
            "{It} wash{es} well without shrinking.",
            "The colour is exactly as pictured.",
            "The stitching is really neat.",
        ],
        &[
            "{It} run{s} at least one size small.",
            "The fabric pilled after one wash.",
            "The colour faded quickly.",
            "The seams are already coming apart.",
            "{Its} much thinner than {it} look{s}.",
        ],
    ],
    [
        &[
            "Battery life easily lasts all day.",
            "Pairing took seconds.",
            "The sound is crisp and clear.",
            "Setup was painless.",
            "The build feels solid.",
        ],
        &[
            "The battery drains overnight.",
            "{It} keep{s} disconnecting from my phone.",
            "The charging port stopped working.",
            "The app is buggy and crashes.",
            "{It} get{s} uncomfortably hot.",
        ],
    ],
    [
        &[
            "{It} look{s} great in our living room.",
            "Sturdy and easy to clean.",
            "The finish is lovely.",
            "{It} make{s} the kitchen feel cosy.",
            "Perfect size for a small flat.",
        ],
        &[
            "{It} chipped the first time I used {it}.",
            "The colour clashes with the photos.",
            "{It} wobble{s} on a flat surface.",
            "The handle came loose.",
            "{Its} much smaller than the listing suggests.",
        ],
    ],
    [
        &[
            "My skin feels so soft.",
            "The scent is subtle and lasts for hours.",
            "A little goes a long way.",
            "No irritation on my sensitive skin.",
            "The texture is lovely and not greasy.",
        ],
        &[
            "{It} gave me a rash.",
            "The scent disappears after ten minutes.",
            "The pump broke on day two.",
            "{It} left my skin greasy.",
            "The shade is nothing like the swatch.",
        ],
    ],
    [
        &[
            "Great grip and cushioning.",
            "{It} held up perfectly on a long trail run.",
            "Light but really durable.",
            "Comfortable even after two hours.",
            "Exactly what my training needed.",
        ],
        &[
            "The sole started peeling after a month.",
            "{It} slip{s} on the floor.",
            "The strap snapped during a workout.",
            "{Its} heavier than advertised.",
            "The padding flattened quickly.",
        ],
    ],
    [
        &[
            "Couldn't put it down.",
            "Beautifully written.",
            "The writing is warm and witty.",
            "The illustrations are gorgeous.",
            "A perfect gift for a reader.",
        ],
        &[
            "The binding cracked on the first read.",
            "Several pages were misprinted.",
            "The story drags in the middle.",
            "The cover arrived bent.",
            "Not as good as the reviews suggested.",
        ],
    ],
    [
        &[
            "The craftsmanship is exquisite.",
            "The materials are beautiful and the finish is flawless.",
            "{It} come{s} in an elegant presentation box.",
            "Every detail feels considered.",
            "Worth every penny.",
        ],
        &[
            "At this price I expected flawless finishing.",
            "The clasp feels flimsy for a luxury piece.",
            "There's a scratch on the metal.",
            "The box was crushed, hardly a luxury experience.",
            "The finish scuffed within days.",
        ],
    ],
    [
        &[
            "My kids play with it every day.",
            "Sturdy enough for a toddler.",
            "Hours of fun for the whole family.",
            "Safe, smooth edges.",
            "{It} kept my nephew busy all afternoon.",
        ],
        &[
            "Pieces were missing from the box.",
            "The paint chipped off immediately.",
            "{It} broke within an hour of play.",
            "Too fiddly for the age range.",
            "The batteries died almost instantly.",
        ],
    ],
];

const CLOSERS: [&[&str]; 7] = [
    &[
        "Highly recommend!",
        "Will definitely order again.",
        "Thank you!",
        "Can't wait to try more from {brand}.",
        "Ten out of ten.",
    ],
    &[
        "Very impressed.",
        "What a find!",
        "Genuinely impressed with the whole experience.",
    ],
    &[
        "Three stars.",
        "It's fine.",
        "Would consider buying again on sale.",
        "Nothing more to say.",
    ],
    &[
        "Fingers crossed it holds up.",
        "I'll update this review in a month.",
        "We'll see how it goes.",
    ],
    &[
        "I'll probably return it.",
        "Really wish it had worked out.",
        "A shame.",
    ],
    &[
        "Avoid.",
        "I want a full refund.",
        "Save your money.",
        "Never ordering again.",
    ],
    &[
        "Disgusting.",
        "Straight in the bin.",
        "I feel sick just thinking about it.",
    ],
];

/// A star rating that fits the emotion.
pub fn rating_for(rng: &mut ChaCha8Rng, emotion: Emotion) -> i32 {
    let (ratings, weights): (&[i32], &[f64]) = match emotion {
        Emotion::Joy => (&[5, 4], &[0.78, 0.22]),
        Emotion::Surprise => (&[5, 4], &[0.5, 0.5]),
        Emotion::Neutral => (&[4, 3], &[0.4, 0.6]),
        Emotion::Fear => (&[4, 3, 2], &[0.2, 0.6, 0.2]),
        Emotion::Sadness => (&[3, 2], &[0.35, 0.65]),
        Emotion::Anger => (&[2, 1], &[0.35, 0.65]),
        Emotion::Disgust => (&[1], &[1.0]),
    };
    ratings[weighted(rng, weights)]
}

/// A review `(title, text)` with the given emotion.
pub fn review(
    rng: &mut ChaCha8Rng,
    persona: Persona,
    emotion: Emotion,
    ctx: &Ctx,
) -> (String, String) {
    let e = emotion as usize;
    let title = fill(pick(rng, REVIEW_TITLES[e]), ctx);
    let main = if emotion == Emotion::Joy && rng.random_bool(0.45) {
        pick(rng, REVIEW_PERSONA_JOY[persona as usize])
    } else {
        pick(rng, REVIEW_MAIN[e])
    };
    let mut text = fill(main, ctx);
    let positive = matches!(emotion, Emotion::Joy | Emotion::Surprise);
    let negative = matches!(
        emotion,
        Emotion::Sadness | Emotion::Anger | Emotion::Disgust
    );
    if (positive || negative || rng.random_bool(0.5)) && rng.random_bool(0.75) {
        let pool = DETAILS[ctx.category.min(7)]
            [usize::from(!positive && (negative || rng.random_bool(0.5)))];
        text.push(' ');
        text.push_str(&fill(pick(rng, pool), ctx));
    }
    if rng.random_bool(0.55) {
        text.push(' ');
        text.push_str(&fill(pick(rng, CLOSERS[e]), ctx));
    }
    (title, flair(rng, persona, emotion, text, false, ctx))
}

// ---------------------------------------------------------------------------------------------
// Messages

const PRE_SALE: &[&str] = &[
    "{Does} the {title} come in other colours?",
    "What are the dimensions of the {word}?",
    "Will the {title} be back in stock soon?",
    "Can I pick the {word} up in person?",
    "What material {is} the {word} made of?",
    "Do you ship internationally?",
    "How do I clean the {word}?",
    "How long is the warranty on the {title}?",
    "Can the {word} be gift-wrapped?",
    "Is there a size guide for the {title}?",
    "{Is} the {title} a good gift?",
    "How heavy {is} the {word}?",
    "Can I order the {word} in bulk for my team?",
    "{Does} the {word} come with instructions?",
    "{Is} the {title} vegan?",
    "When will the {word} be available in black again?",
    "Do you offer student discounts?",
    "Can I change the delivery address after ordering?",
    "Do you have a physical shop I can visit?",
    "Does the price of the {title} include tax?",
    "{Is} the {title} the same as what {brand} sold last year?",
    "How {does} the {word} compare with the cheaper version?",
];

const ANXIOUS: &[&str] = &[
    "Will the {title} arrive before Friday? It's for a birthday and I'm really worried.",
    "Is it safe to pay by card on your website?",
    "What happens if the {word} {doesnt} fit? I'm nervous about the returns process.",
    "I placed an order but didn't get a confirmation email. Did it go through?",
    "I'm worried I was charged twice for my order.",
    "Will the price of the {title} go down again soon? I don't want to buy {it} and regret {it}.",
    "{Is} the {word} definitely authentic? I've been scammed before.",
    "What if the {word} arrive{s} damaged? Will I have to pay for the return?",
    "I'm scared my parcel will get stolen from the doorstep, can I choose a pickup point?",
    "Is the discount code still valid? I'm afraid it will expire before I check out.",
    "Is my personal data safe with you?",
    "My payment failed halfway through, will I be charged anyway?",
    "How long do I have to return the {word} if I change my mind?",
    "{Does} the {title} really have a two-year warranty? I'm worried {it}'ll break.",
    "I'm nervous about ordering the {word} online without trying {it} first.",
    "I left the {title} in my cart, will the sale price still apply tomorrow?",
];

const CONCIERGE: &[&str] = &[
    "Could you confirm the {title} come{s} with a certificate of authenticity?",
    "Is engraving available for the {word}?",
    "I would like the {title} delivered by courier against a signature. Is that possible?",
    "Could you reserve the {title} for me until the weekend?",
    "Do you offer a private appointment to view the {brand} collection?",
    "{Is} the {word} available in a limited edition?",
    "Please could you gift-wrap the {title} and include a card?",
    "Could you tell me more about how the {title} {is} made?",
];

const WISMO_WORRIED: &[&str] = &[
    "My order {order} hasn't arrived yet and the tracking hasn't updated in {days} days. Should I be worried?",
    "Where is my order {order}? I really need it by the weekend.",
    "The tracking for {order} says delivered but I can't find the parcel anywhere.",
    "Could you check on order {order}? It's been {days} days.",
    "Is order {order} lost? I'm getting nervous.",
    "I still haven't received a shipping confirmation for {order}.",
];

const WISMO_ANGRY: &[&str] = &[
    "Order {order} is {days} days late. This is ridiculous.",
    "Where on earth is my order {order}? Nobody answers my emails.",
    "I paid for express shipping on {order} and it's still not here. Unacceptable.",
    "Your tracking page for {order} has said 'processing' for {days} days. Sort it out.",
    "Second time asking: where is order {order}?",
];

const PROBLEM: [&[&str]; 6] = [
    // Damaged
    &[
        "The {title} from order {order} arrived damaged: the box was crushed and the {word} {is} broken.",
        "My {word} arrived cracked. I'm really upset, {it} {was} a gift.",
        "The {word} came smashed in the box. How was this packed?",
        "The {title} arrived with a big dent in {it}.",
    ],
    // Late
    &[
        "Order {order} arrived {days} days late and missed the occasion I bought it for.",
        "The {word} turned up a week after the party. What's the point?",
        "I'm so sad the {title} didn't make it in time for the holiday.",
    ],
    // WrongItem
    &[
        "I ordered the {title} but received something completely different.",
        "Wrong size in the box for order {order}. Please send the right one.",
        "You sent me the wrong colour {word}. Again.",
    ],
    // Defective
    &[
        "The {title} stopped working after {days} days.",
        "The {word} {was} faulty straight out of the box.",
        "The {word} broke the first time I used {it}.",
    ],
    // NotAsDescribed
    &[
        "The {title} look{s} nothing like the photos on your site.",
        "The {word} {is} much smaller than described.",
        "The {word} feel{s} cheap, not what was advertised.",
    ],
    // Dirty
    &[
        "The {word} arrived dirty and smelling of smoke. Disgusting.",
        "There was a hair stuck to the {title}. Gross.",
        "The {word} had clearly been used and returned by someone else. Vile.",
        "The {word} had mould on {it} when I opened the package.",
    ],
];

const ESCALATION: &[&str] = &[
    "This is the third time I'm writing about order {order}. Nobody has replied.",
    "I want a refund for {order} today, or I'm disputing the charge with my bank.",
    "Your customer service is a joke. Still waiting on {order}.",
    "Stop sending me automated replies and fix my order {order}.",
    "I've been waiting {days} days for an answer. Completely unacceptable.",
    "I'm leaving a review everywhere I can about how you've treated me.",
];

const GOODBYE: &[&str] = &[
    "I've been a customer for a while, but after this I'm done.",
    "Please close my account. I won't be ordering again.",
    "Really sad it ended like this, I used to love this shop.",
    "Unsubscribe me from everything. I'm finished with you.",
    "Thanks for nothing. Taking my business elsewhere.",
    "I'm so disappointed. I won't recommend you to anyone.",
];

const PRICE_ADJUST: &[&str] = &[
    "I bought the {title} a few days ago and now {its} cheaper. Can you refund the difference?",
    "The {word} I ordered {is} on sale now, which is really frustrating. Do you price match?",
    "I just saw the {title} drop in price right after I paid. Could I get the difference back?",
    "Do you offer price protection? The {title} went down after my order {order}.",
    "Feeling a bit cheated: the {word} {is} cheaper now than when I bought {it} {days} days ago.",
];

const RETURN_REQUEST: &[&str] = &[
    "I'd like to return the {title}, {its} not quite right for me.",
    "How do I send back the {word}? {It} {doesnt} suit me.",
    "Can I exchange the {word} for a different size?",
    "I changed my mind about the {title}; could you send me a return label?",
    "The {word} {is} lovely but I ordered two by mistake. Can I return one?",
];

const PRAISE: &[&str] = &[
    "Just wanted to say I love the {title}! Thank you!",
    "The {word} arrived today and {its} perfect. You made my day.",
    "Thank you for the lovely packaging and the quick delivery!",
    "Your team was so helpful, I'll definitely shop again.",
    "My mum loved the {word} I bought her. Thank you so much!",
    "Best online shopping experience I've had in ages.",
    "The {title} {is} gorgeous, I've already recommended you to my friends.",
    "Thanks for the handwritten note in my parcel, such a nice touch.",
];

const SURPRISE_NOTE: &[&str] = &[
    "Wow, the {word} arrived the day after I ordered!",
    "I didn't expect a free sample with my {word}, what a nice surprise.",
    "I can't believe how fast order {order} arrived. Impressive!",
    "I was amazed that the {title} look{s} even better in real life.",
    "You upgraded my shipping for free? Thank you, I did not expect that!",
];

impl Intent {
    /// The emotion a message of this intent carries.
    pub fn emotion(self) -> Emotion {
        match self {
            Intent::PreSale | Intent::Concierge | Intent::ReturnRequest => Emotion::Neutral,
            Intent::Anxious | Intent::WismoWorried => Emotion::Fear,
            Intent::WismoAngry | Intent::Escalation => Emotion::Anger,
            Intent::Problem(p) => p.emotion(),
            Intent::Goodbye | Intent::PriceAdjust => Emotion::Sadness,
            Intent::Praise => Emotion::Joy,
            Intent::SurpriseNote => Emotion::Surprise,
        }
    }
}

/// A message with the given intent, styled for the persona.
pub fn message(rng: &mut ChaCha8Rng, persona: Persona, intent: Intent, ctx: &Ctx) -> String {
    let pool = match intent {
        Intent::PreSale => PRE_SALE,
        Intent::Anxious => ANXIOUS,
        Intent::Concierge => CONCIERGE,
        Intent::WismoWorried => WISMO_WORRIED,
        Intent::WismoAngry => WISMO_ANGRY,
        Intent::Problem(p) => PROBLEM[p as usize],
        Intent::Escalation => ESCALATION,
        Intent::Goodbye => GOODBYE,
        Intent::PriceAdjust => PRICE_ADJUST,
        Intent::ReturnRequest => RETURN_REQUEST,
        Intent::Praise => PRAISE,
        Intent::SurpriseNote => SURPRISE_NOTE,
    };
    let body = fill(pick(rng, pool), ctx);
    flair(rng, persona, intent.emotion(), body, true, ctx)
}

/// Persona voice: lead-ins, sign-offs, exclamation marks and emoji.
fn flair(
    rng: &mut ChaCha8Rng,
    persona: Persona,
    emotion: Emotion,
    text: String,
    message: bool,
    ctx: &Ctx,
) -> String {
    let positive = matches!(emotion, Emotion::Joy | Emotion::Surprise);
    let negative = matches!(
        emotion,
        Emotion::Sadness | Emotion::Anger | Emotion::Disgust
    );
    match persona {
        Persona::ImpulsiveEmotional => {
            let prefix = if message {
                pick(rng, &["OMG ", "Okay so ", "Hiii! ", "", ""])
            } else {
                pick(rng, &["Honestly? ", "", "", "Okay, "])
            };
            let mut out = lead_in(prefix, text, ctx);
            let suffix = if positive {
                pick(rng, &["", " 😍", " ❤️", " 🙌", "!!", " So happy!!"])
            } else if negative {
                pick(rng, &["", " 😭", " 😡", " Ugh!!", " So upset."])
            } else {
                pick(rng, &["", " Pls help!!", " Thanks!!"])
            };
            if suffix == "!!" {
                // Louder: "Love it." becomes "Love it!!".
                if out.ends_with('.') {
                    out.pop();
                    out.push_str("!!");
                } else if out.ends_with('!') {
                    out.push('!');
                }
            } else {
                out.push_str(suffix);
            }
            out
        }
        Persona::PriceSensitiveAnxious => {
            let prefix = if !message {
                ""
            } else if emotion == Emotion::Fear {
                pick(
                    rng,
                    &[
                        "Sorry to bother you, ",
                        "Hello, I'm a little worried — ",
                        "Hi, just to double-check: ",
                        "Sorry, me again. ",
                        "",
                    ],
                )
            } else if emotion == Emotion::Neutral {
                pick(rng, &["Sorry to bother you, ", "Hi, quick question: ", ""])
            } else {
                pick(rng, &["Hi, ", "Hello, ", ""])
            };
            let mut out = lead_in(prefix, text, ctx);
            if !message && !negative && rng.random_bool(0.3) {
                out.push_str(pick(
                    rng,
                    &[
                        " Glad I waited for a discount.",
                        " Only bought it because it was on sale.",
                        " Hope the price was worth it.",
                    ],
                ));
            }
            out
        }
        Persona::BrandLoyalConfident => {
            let mut out = text;
            if positive && rng.random_bool(0.4) {
                out.push_str(pick(
                    rng,
                    &[
                        " Thanks as always.",
                        " Keep it up.",
                        " Loyal customer for life.",
                    ],
                ));
            }
            out
        }
        Persona::CuriousBrowser => {
            let prefix = match (message, emotion) {
                (false, _) => "",
                (true, Emotion::Neutral) => pick(rng, &["Hi, ", "Hello! ", "Quick question: ", ""]),
                (true, _) => pick(rng, &["Hi, ", "Hello! ", ""]),
            };
            lead_in(prefix, text, ctx)
        }
        Persona::LuxurySeeker => {
            let prefix = if message {
                pick(rng, &["Good afternoon. ", "Hello, ", "Dear team, ", ""])
            } else {
                ""
            };
            let mut out = lead_in(prefix, text, ctx);
            if message {
                out.push_str(pick(rng, &[" Kind regards.", " Many thanks.", ""]));
            }
            out
        }
        Persona::FrustratedAtRisk => {
            let mut out = text;
            if message && emotion == Emotion::Anger && rng.random_bool(0.5) {
                out.push_str(pick(
                    rng,
                    &[
                        " This is not acceptable.",
                        " Fix this.",
                        " I expect a reply today.",
                    ],
                ));
            } else if !message && negative && rng.random_bool(0.4) {
                out.push_str(pick(
                    rng,
                    &[" Really disappointed in this shop.", " Not happy at all."],
                ));
            }
            out
        }
    }
}

/// Every distinct sentence template, for the variety test.
#[cfg(test)]
pub fn all_templates() -> Vec<&'static str> {
    let mut out = Vec::new();
    for pools in [
        &REVIEW_TITLES[..],
        &REVIEW_MAIN[..],
        &REVIEW_PERSONA_JOY[..],
        &CLOSERS[..],
        &PROBLEM[..],
    ] {
        for pool in pools {
            out.extend_from_slice(pool);
        }
    }
    for d in DETAILS.iter() {
        out.extend_from_slice(d[0]);
        out.extend_from_slice(d[1]);
    }
    for pool in [
        PRE_SALE,
        ANXIOUS,
        CONCIERGE,
        WISMO_WORRIED,
        WISMO_ANGRY,
        ESCALATION,
        GOODBYE,
        PRICE_ADJUST,
        RETURN_REQUEST,
        PRAISE,
        SURPRISE_NOTE,
    ] {
        out.extend_from_slice(pool);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fills_placeholders_and_keeps_order() {
        let ctx = Ctx {
            title: "Northwind Linen Shirt",
            brand: "Northwind",
            word: "shirt",
            category: 0,
            days: 4,
            plural: false,
        };
        assert_eq!(
            fill(
                "The {title} ({word}, {brand}) took {days} days; order {order}.",
                &ctx
            ),
            "The Northwind Linen Shirt (shirt, Northwind) took 4 days; order {order}."
        );
        assert_eq!(
            lead_in("Hi, ", "Does it fit?".into(), &ctx),
            "Hi, does it fit?"
        );
        assert_eq!(lead_in("Hi, ", "I love it".into(), &ctx), "Hi, I love it");
        assert_eq!(lead_in("OMG ", "The box!".into(), &ctx), "OMG the box!");
        assert_eq!(
            lead_in("OMG ", "Northwind did it!".into(), &ctx),
            "OMG Northwind did it!"
        );
        assert_eq!(
            lead_in("Honestly? ", "The box!".into(), &ctx),
            "Honestly? The box!"
        );
        assert_eq!(
            lead_in("Good afternoon. ", "Is it".into(), &ctx),
            "Good afternoon. Is it"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (_, text) = review(&mut rng, Persona::LuxurySeeker, Emotion::Joy, &ctx);
        assert!(!text.contains("{title}"));
        let shoes = Ctx {
            title: "Stride Trail Running Shoes",
            word: "running shoes",
            plural: true,
            ..ctx
        };
        assert_eq!(
            fill(
                "{This} {word} {is} great and {it} fit{s}; {a}{word} to keep.",
                &shoes
            ),
            "These running shoes are great and they fit; running shoes to keep."
        );
        let reader = Ctx {
            word: "e-reader",
            ..ctx
        };
        assert_eq!(
            fill("{This} is {a}{word} that look{s} fine.", &reader),
            "This is an e-reader that looks fine."
        );
    }

    #[test]
    fn every_template_fills_completely() {
        for plural in [false, true] {
            let ctx = Ctx {
                title: "T",
                brand: "B",
                word: "w",
                category: 0,
                days: 1,
                plural,
            };
            for t in all_templates() {
                let filled = fill(t, &ctx);
                let rest = filled.replace("{order}", "");
                assert!(!rest.contains('{') && !rest.contains('}'), "{t} → {filled}");
            }
        }
    }

    #[test]
    fn hundreds_of_templates() {
        let t = all_templates();
        let distinct: std::collections::BTreeSet<_> = t.iter().collect();
        assert_eq!(distinct.len(), t.len(), "duplicate template");
        assert!(t.len() >= 300, "{} templates", t.len());
    }
}
