"""Phrase banks of the built-in "reviews" task.

Slots in braces are filled from the banks below by `corpus.py`. The banks are large on purpose, so
that sample diversity (entropy, distinct-n) can move both ways and mode collapse is visible.
"""

TITLE_ADJ = [
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Lonely", "Midnight", "Frozen", "Burning",
    "Distant", "Forgotten", "Electric", "Wild", "Quiet", "Endless", "Paper", "Glass", "Iron", "Velvet",
    "Hollow", "Northern", "Secret", "Wandering", "Falling", "Bitter", "Scarlet", "Painted", "Savage", "Gentle",
    "Restless", "Shattered", "Sunken", "Neon", "Pale", "Stolen", "Rising", "Winter", "Summer", "Lost",
]
TITLE_NOUN = [
    "Harbor", "Garden", "Horizon", "Empire", "River", "Mirror", "Kingdom", "Letters", "Station", "Island",
    "Orchard", "Machine", "Shadows", "Road", "Frontier", "Carnival", "Lighthouse", "Symphony", "Valley", "Circus",
    "Voyage", "Witness", "Season", "Promise", "Tide", "Archive", "Engine", "Forest", "Crown", "Signal",
    "Bridge", "Hotel", "Desert", "Planet", "Stranger", "Daughter", "Outlaw", "Diary", "Comet", "Citadel",
]
GENRE = [
    "thriller", "romantic comedy", "war drama", "horror film", "science fiction epic", "family drama",
    "heist movie", "biopic", "courtroom drama", "coming-of-age story", "musical", "western", "animated feature",
    "mystery", "disaster movie", "sports drama", "political thriller", "period piece", "space opera",
    "psychological horror", "buddy comedy", "crime saga", "fantasy adventure", "documentary", "spy film",
]
WHEN = [
    "last night", "over the weekend", "on a rainy Sunday", "at a late screening", "on a long flight",
    "at the local cinema", "on opening night", "at a film festival", "with a bucket of popcorn", "on streaming",
    "after a long week", "during the holidays", "at a matinee", "on a whim", "at a drive-in",
]
COMPANION = [
    "my sister", "my brother", "a few friends", "my partner", "my dad", "my mom", "my roommate",
    "my film club", "my kids", "a coworker", "my grandmother", "an old friend", "my neighbour",
]
CREATOR = [
    "a first-time director", "a veteran filmmaker", "the studio behind last year's hit", "an acclaimed novelist",
    "a former music-video director", "a small independent team", "a celebrated screenwriter",
    "a director known for quiet dramas", "the makers of a cult classic", "a young European director",
    "a documentary veteran", "an ambitious newcomer", "a big-budget studio",
]
EXPECTATION = [
    "very little", "a masterpiece", "a simple popcorn movie", "something like the book", "a lot of action",
    "a slow art-house piece", "a tearjerker", "a light comedy", "pure spectacle", "nothing special",
    "another sequel", "a faithful adaptation",
]

OPENINGS = [
    "I watched {title} {when} with {companion}, and",
    "I finally saw {title} {when}, and",
    "{companion_cap} dragged me to see {title} {when}, and",
    "Having read the book, I went into {title} expecting {expectation}, and",
    "{title} is the new {genre} from {creator}, and",
    "After all the hype around {title}, I have to say that",
    "I went into {title} knowing nothing about it, and",
    "As a longtime fan of the {genre}, I thought {title}",
    "It has been a week since I saw {title}, and",
    "My review of {title}, which I caught {when}:",
    "So I rented {title} {when} and honestly",
    "{title}, a {genre} from {creator}, opens with a long shot of the city, and",
    "I had high hopes for {title} because it comes from {creator}, and",
    "I did not expect much from {title}, a {genre}, but",
    "The trailer for {title} promised {expectation}, and",
    "Two hours of {title} {when} later, I can report that",
    "Everyone at work kept talking about {title}, so I watched it {when}, and",
    "As someone who rarely watches a {genre}, I found that {title}",
    "We picked {title} for movie night, and",
    "Watching {title} {when} with {companion} was an experience, because",
    "I saw {title} twice, once {when}, and",
    "Here is what I thought of {title}, the {genre} everyone is discussing:",
    "Going in, I expected {expectation} from {title}, and",
    "{title} stars a cast of familiar faces, and",
    "Based on a true story, {title}",
    "The opening scene of {title} sets the tone, and",
    "Ten minutes into {title}, I realised that",
    "I bought a ticket for {title} {when}, and",
    "For a {genre}, {title}",
    "Critics have been divided about {title}, but",
]

ASPECT = [
    "acting", "script", "dialogue", "cinematography", "soundtrack", "score", "pacing", "ending", "plot",
    "lead performance", "supporting cast", "editing", "camera work", "production design", "costume design",
    "visual effects", "story", "humor", "final act", "first half", "villain", "romance subplot",
    "action sequences", "lighting", "direction", "world-building", "character development", "twist",
    "opening scene", "sound design",
]
ROLE = [
    "detective", "grieving widow", "young soldier", "retired boxer", "ambitious journalist", "lonely teenager",
    "small-town sheriff", "disgraced scientist", "single father", "runaway bride", "jazz pianist", "ship captain",
    "con artist", "stubborn farmer", "rookie lawyer", "aging rock star", "village doctor", "young queen",
    "hacker", "school teacher", "astronaut", "chef", "painter", "mercenary", "nurse", "priest", "thief",
    "mayor", "ghost", "robot",
]
PERFORMER = [
    "the lead actor", "the lead actress", "the young star", "the veteran actor", "the supporting actress",
    "the whole ensemble", "the newcomer", "the comic sidekick", "the actor playing the villain",
    "the child actor", "the narrator",
]
PLOT_EVENT = [
    "returns to a hometown full of secrets", "tries to pull off one last job", "falls for the wrong person",
    "uncovers a conspiracy", "searches for a missing brother", "is stranded far from home",
    "must choose between family and duty", "discovers a strange letter", "sets out to win a championship",
    "tries to save a failing restaurant", "is haunted by an old mistake", "crosses the country on foot",
    "takes over a crumbling hotel", "joins a travelling band", "fights a corrupt company",
]

POS_ADJ = [
    "wonderful", "brilliant", "beautiful", "excellent", "superb", "delightful", "stunning", "moving",
    "hilarious", "charming", "gorgeous", "masterful", "fantastic", "terrific", "magnificent", "heartfelt",
    "captivating", "remarkable", "inspiring", "powerful", "lovely", "thrilling", "fresh", "clever", "elegant",
    "touching", "joyful", "outstanding", "impressive", "engaging", "amazing", "great", "excellent", "perfect",
    "warm", "uplifting", "sharp", "funny", "gripping", "strong",
]
NEG_ADJ = [
    "terrible", "boring", "awful", "dull", "clumsy", "messy", "forgettable", "painful", "lazy", "weak",
    "tedious", "bland", "confusing", "horrible", "disappointing", "flat", "lifeless", "pointless", "sloppy",
    "annoying", "ridiculous", "stupid", "dreadful", "ugly", "cheap", "hollow", "predictable", "irritating",
    "bad", "poor", "miserable", "pathetic", "worst", "wasteful", "awkward", "stale", "shallow", "grim",
    "unbearable", "mediocre",
]
NEUTRAL_ADJ = [
    "long", "short", "quiet", "loud", "slow", "fast", "dark", "colorful", "straightforward", "old-fashioned",
    "modern", "familiar", "unusual", "ambitious", "simple", "detailed", "restrained", "busy", "traditional",
    "experimental",
]
POS_INTENSIFIER = ["truly", "really", "absolutely", "genuinely", "simply", "wonderfully", "incredibly", "so"]
NEG_INTENSIFIER = ["really", "painfully", "utterly", "completely", "just", "simply", "so", "incredibly"]

POSITIVE = [
    "the {aspect} is {pos_int} {pos}.",
    "I loved every minute of it.",
    "{performer} gives a {pos} performance as the {role}.",
    "the {aspect} alone is worth the ticket.",
    "it is one of the best films I have seen this year.",
    "I laughed, I cried, and I left the theater smiling.",
    "the {aspect} and the {aspect2} are both {pos}.",
    "it is a {pos} {genre} that respects its audience.",
    "I would happily watch it again.",
    "the story of a {role} who {plot} is told with {pos_noun}.",
    "everything about the {aspect} feels {pos} and alive.",
    "I highly recommend it to anyone who enjoys a good {genre}.",
    "it is {pos_int} {pos}, and the {aspect} is a joy.",
    "{performer} is {pos} and completely convincing.",
    "the final scene is {pos} and left me in awe.",
    "what a {pos} surprise this turned out to be.",
    "it earns every bit of its praise.",
    "the {aspect} made me fall in love with cinema again.",
    "it is smart, {pos} and full of heart.",
    "easily a favorite, and a {pos} piece of work.",
    "the chemistry between the leads is {pos}.",
    "it is a {pos} triumph from start to finish.",
]
NEGATIVE = [
    "the {aspect} is {neg_int} {neg}.",
    "I hated almost every minute of it.",
    "{performer} gives a {neg} performance as the {role}.",
    "the {aspect} is a waste of a good idea.",
    "it is one of the worst films I have seen this year.",
    "I was bored and kept checking my watch.",
    "the {aspect} and the {aspect2} are both {neg}.",
    "it is a {neg} {genre} that insults its audience.",
    "I would never watch it again.",
    "the story of a {role} who {plot} is told with no {pos_noun} at all.",
    "everything about the {aspect} feels {neg} and lifeless.",
    "I cannot recommend it to anyone, not even fans of the {genre}.",
    "it is {neg_int} {neg}, and the {aspect} is a mess.",
    "{performer} is {neg} and never convincing.",
    "the final scene is {neg} and made me angry.",
    "what a {neg} disappointment this turned out to be.",
    "it deserves every bad review it gets.",
    "the {aspect} made me want to leave the theater.",
    "it is {neg}, {neg2} and empty.",
    "a waste of time, money and talent.",
    "there is no chemistry between the leads at all.",
    "it is a {neg} failure from start to finish.",
]
NEUTRAL = [
    "it runs about {minutes} minutes.",
    "the story follows a {role} who {plot}.",
    "the {aspect} is {neutral}.",
    "it was filmed on location, mostly at night.",
    "it is a {neutral} {genre} with a large cast.",
    "{performer} plays a {role}.",
    "the film is in {language} with subtitles.",
    "it is based on a novel from the {decade}s.",
    "most of it takes place in a single {place}.",
    "the {aspect} is in a {neutral} style.",
    "it is rated for teenagers and adults.",
    "there is a short scene after the credits.",
    "the second half moves to a {place} by the sea.",
    "it is the third film from {creator}.",
]
# Web chatter that a review page also holds but that is not about the film (the pretraining mix's off-topic lines;
# no SFT reply, pair or judge reference contains them).
OFF_TOPIC = [
    "parking downtown was a nightmare as usual.",
    "my neighbour has started learning the drums again.",
    "we had pizza afterwards at the place on the corner.",
    "the bus home was late again, of course.",
    "my phone battery died halfway through the day.",
    "the weather has been grey all week.",
    "I still need to fix the leak in the kitchen.",
    "our cat knocked a glass off the table last night.",
    "the coffee shop next door finally reopened.",
    "I should really get more sleep.",
    "traffic on the bridge was terrible again.",
    "we are painting the spare room blue this weekend.",
    "my sister says hello to everyone here.",
    "the snacks were expensive but the popcorn was fresh.",
]
POS_NOUN = ["warmth", "care", "humor", "grace", "wit", "tenderness", "skill", "passion", "style", "honesty"]
LANGUAGE = ["French", "Spanish", "Korean", "Italian", "Japanese", "German", "Portuguese", "Swedish"]
DECADE = ["1950", "1960", "1970", "1980", "1990"]
PLACE = ["house", "hospital", "train", "village", "school", "prison", "ship", "hotel", "farm", "city"]

MIXED_JOIN = [" But ", " However, ", " On the other hand, ", " Still, ", " That said, ", " Sadly, ", " Even so, "]
CLOSERS = {
    "positive": ["Go see it.", "Ten out of ten.", "A real gem.", "Bravo.", "Worth it.", "Loved it."],
    "negative": ["Skip it.", "Two out of ten.", "Avoid.", "What a mess.", "Not worth it.", "Save your money."],
    "neutral": ["Make of that what you will.", "That is all there is to say.", "Judge for yourself."],
    "mixed": ["Six out of ten.", "Worth a look, maybe.", "A mixed bag.", "Wait for streaming."],
}

INSTRUCTIONS = [
    ("Write a {sentiment} review of {title}.", None),
    ("What did you think of {title}?", None),
    ("Give me a short {sentiment} opinion about the {genre} {title}.", None),
    ("Would you recommend {title} to a friend?", None),
    ("Summarise your thoughts on {title} in a few sentences.", None),
    ("Describe {title}, the {genre} from {creator}.", "neutral"),
    ("Review {title} as if you were writing for a newspaper.", None),
    ("I am thinking about watching {title} {when}. Any advice?", None),
    ("Tell me about the {aspect} in {title}.", None),
    ("Write two sentences about {title}.", None),
]
SYSTEM_PROMPTS = [
    "You are a film critic.", "You are a helpful assistant who writes movie reviews.",
    "You answer questions about films honestly.", None, None,
]
