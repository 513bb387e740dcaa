"""The topic taxonomy every simulated prompt is drawn from — benign users and attackers alike.

A capability sweep is only hard to tell from ordinary use if both speak the same language: here a
persona's topic preferences and a campaign's coverage plan are distributions over these *same*
topics, built from the *same* task templates and subjects. What differs is how the topics are
visited (concentrated vs. uniform, in order vs. at random), never the vocabulary.

Each topic has tasks (templates over ``{s}`` and ``{t}``, two subjects of the topic) and subjects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    domain: str
    name: str
    tasks: tuple[str, ...]
    subjects: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.domain}/{self.name}"


def _t(domain: str, name: str, tasks: str, subjects: str) -> Topic:
    return Topic(domain, name, tuple(tasks.split(" | ")), tuple(subjects.split(", ")))


TOPICS: tuple[Topic, ...] = (
    # coding
    _t(
        "coding",
        "python",
        "write a Python function that handles {s} | explain how {s} works in Python | "
        "why does my Python code using {s} raise an exception | refactor this Python loop to use {s} | "
        "what is the difference between {s} and {t} in Python",
        "list comprehensions, generators, decorators, asyncio, dataclasses, context managers, type hints, "
        "dictionary merging, file parsing, recursion",
    ),
    _t(
        "coding",
        "javascript",
        "write a JavaScript function for {s} | explain {s} in JavaScript with an example | "
        "fix a bug in my React component related to {s} | compare {s} and {t} in JavaScript",
        "promises, async/await, closures, event listeners, array methods, useEffect hooks, fetch requests, "
        "debouncing, local storage, module imports",
    ),
    _t(
        "coding",
        "sql",
        "write a SQL query that returns {s} | optimise a slow SQL query that uses {s} | "
        "explain {s} in SQL | design a database schema for {s}",
        "the top customers by revenue, window functions, joins across three tables, duplicate rows, "
        "monthly active users, an online bookstore, indexes, running totals, a hotel booking system",
    ),
    _t(
        "coding",
        "systems",
        "write a Rust function that implements {s} | explain {s} in Rust | "
        "why does the borrow checker reject my code with {s} | write a Go program for {s}",
        "a thread pool, lifetimes, a linked list, error handling with Result, a TCP echo server, "
        "trait objects, a rate limiter, a LRU cache, channels",
    ),
    _t(
        "coding",
        "devops",
        "write a Dockerfile for {s} | how do I set up {s} | debug a failing CI pipeline for {s} | "
        "write a Kubernetes manifest for {s}",
        "a Flask app, a Node service, GitHub Actions, nginx as a reverse proxy, a Postgres backup job, "
        "blue-green deployment, Terraform for an S3 bucket, a cron job",
    ),
    _t(
        "coding",
        "algorithms",
        "implement {s} and explain its complexity | what is the time complexity of {s} | "
        "solve this interview problem using {s} | compare {s} with {t}",
        "binary search, Dijkstra's algorithm, dynamic programming for knapsack, quicksort, "
        "union-find, topological sort, a trie, two pointers, BFS on a grid",
    ),
    _t(
        "coding",
        "regex",
        "write a regular expression that matches {s} | explain this regex for {s} | "
        "why does my regex for {s} not match",
        "email addresses, dates in ISO format, US phone numbers, IPv4 addresses, hex colour codes, "
        "URLs with query strings, log timestamps",
    ),
    # math
    _t(
        "math",
        "algebra",
        "solve {s} | explain how to solve {s} | simplify {s} | factor {s}",
        "a quadratic equation, a system of two linear equations, an inequality with absolute values, "
        "an exponential equation, a rational expression, a polynomial of degree three",
    ),
    _t(
        "math",
        "calculus",
        "find the derivative of {s} | compute the integral of {s} | explain {s} intuitively | "
        "find the limit of {s}",
        "x squared times sine of x, e to the minus x squared, the chain rule, a Taylor series, "
        "related rates, the area between two curves, natural log of x over x",
    ),
    _t(
        "math",
        "probability",
        "what is the probability of {s} | explain {s} with an example | "
        "solve this statistics problem about {s}",
        "drawing two aces from a deck, Bayes' theorem, the birthday problem, a binomial distribution, "
        "expected value of a dice game, conditional probability, the Monty Hall problem",
    ),
    _t(
        "math",
        "geometry",
        "find {s} | prove {s} | explain {s} with a diagram description",
        "the area of a triangle inscribed in a circle, the Pythagorean theorem, the volume of a cone, "
        "angles in a regular polygon, similar triangles, the distance between two points",
    ),
    _t(
        "math",
        "linear_algebra",
        "compute {s} | explain {s} geometrically | why does {s} matter in machine learning",
        "eigenvalues of a 2x2 matrix, the determinant, matrix inverses, singular value decomposition, "
        "orthogonal projections, the rank of a matrix",
    ),
    _t(
        "math",
        "number_theory",
        "prove {s} | find {s} | explain {s}",
        "that there are infinitely many primes, the greatest common divisor, modular inverses, "
        "the last digit of a large power, Fermat's little theorem",
    ),
    # science
    _t(
        "science",
        "physics",
        "explain {s} | solve a physics problem about {s} | what is the difference between {s} and {t}",
        "Newton's second law, projectile motion, conservation of energy, electric circuits, "
        "special relativity, quantum tunnelling, friction on an incline, heat transfer",
    ),
    _t(
        "science",
        "chemistry",
        "explain {s} | balance the equation for {s} | why does {s} happen",
        "oxidation and reduction, the combustion of methane, acid-base titration, covalent bonds, "
        "reaction rates, Le Chatelier's principle, electron configuration",
    ),
    _t(
        "science",
        "biology",
        "explain {s} | describe the steps of {s} | compare {s} and {t}",
        "photosynthesis, mitosis, the Krebs cycle, natural selection, CRISPR, the immune response, "
        "DNA replication, enzymes",
    ),
    _t(
        "science",
        "earth_space",
        "explain {s} | what causes {s} | how do scientists measure {s}",
        "black holes, plate tectonics, the greenhouse effect, ocean currents, exoplanets, "
        "the seasons, hurricanes",
    ),
    # writing
    _t(
        "writing",
        "email",
        "write an email to {s} | make my email to {s} more professional | draft a polite reply to {s}",
        "my landlord about a broken heater, a client about a delayed project, my manager asking for a raise, "
        "a professor about an extension, a recruiter, a supplier about an invoice",
    ),
    _t(
        "writing",
        "essay",
        "write an essay outline about {s} | improve the introduction of my essay on {s} | "
        "give me arguments for and against {s}",
        "social media and teenagers, renewable energy, remote work, universal basic income, "
        "the industrial revolution, school uniforms",
    ),
    _t(
        "writing",
        "creative",
        "write a short story about {s} | write a poem about {s} | continue my story about {s} | "
        "give me ideas for a novel about {s}",
        "a lighthouse keeper, a robot learning to paint, a lost cat in Tokyo, time travel, "
        "a dragon who is afraid of fire, the ocean at night",
    ),
    _t(
        "writing",
        "career",
        "write a cover letter for {s} | improve my resume bullet points for {s} | "
        "prepare me for an interview for {s}",
        "a junior data analyst role, a nursing position, a software engineering internship, "
        "a marketing manager job, a teaching assistant position",
    ),
    _t(
        "writing",
        "editing",
        "proofread this paragraph about {s} | make this text about {s} shorter | "
        "rewrite this paragraph about {s} in a friendlier tone",
        "our company's refund policy, a product launch, a research abstract, a wedding speech, "
        "a museum exhibit, a safety notice",
    ),
    # business
    _t(
        "business",
        "marketing",
        "write marketing copy for {s} | create a social media plan for {s} | suggest taglines for {s}",
        "a vegan bakery, a fitness app, a B2B analytics tool, a local bookstore, a summer sale, "
        "an eco-friendly water bottle",
    ),
    _t(
        "business",
        "finance",
        "explain {s} | calculate {s} | how should a small business handle {s}",
        "cash flow forecasting, the break-even point, depreciation, gross margin, "
        "a discounted cash flow model, quarterly taxes",
    ),
    _t(
        "business",
        "strategy",
        "do a SWOT analysis of {s} | how could {s} enter a new market | what are the risks of {s}",
        "a coffee chain, an electric scooter startup, a regional airline, a SaaS company, "
        "a family restaurant",
    ),
    _t(
        "business",
        "product",
        "write a product requirements document for {s} | prioritise features for {s} | "
        "write user stories for {s}",
        "a habit tracker, a team chat app, an onboarding flow, a recommendation widget, a checkout page",
    ),
    # law and policy
    _t(
        "law",
        "contracts",
        "explain {s} in plain language | what should I check in {s} | draft {s}",
        "a non-disclosure agreement, an indemnification clause, a lease agreement, "
        "a freelance contract, a termination clause",
    ),
    _t(
        "law",
        "privacy",
        "explain {s} | how does {s} apply to a small website | write {s}",
        "GDPR consent requirements, a privacy policy, data retention rules, cookie banners, "
        "the right to be forgotten",
    ),
    _t(
        "law",
        "ip",
        "explain {s} | can I use {s} | what is the difference between {s} and {t}",
        "copyright fair use, trademarks, software patents, open-source licences, a photo I found online",
    ),
    # health
    _t(
        "health",
        "nutrition",
        "create {s} | is {s} healthy | explain {s}",
        "a high-protein vegetarian meal plan, intermittent fasting, a low-sodium diet, "
        "the glycaemic index, meal prep for a week",
    ),
    _t(
        "health",
        "fitness",
        "design {s} | how do I improve {s} | explain {s}",
        "a beginner 5k training plan, a home workout with no equipment, squat form, "
        "progressive overload, recovery after a marathon",
    ),
    _t(
        "health",
        "wellbeing",
        "give me tips for {s} | how can I deal with {s} | explain {s}",
        "better sleep, stress before exams, burnout at work, mindfulness meditation, procrastination",
    ),
    # education and humanities
    _t(
        "education",
        "history",
        "summarise {s} | what were the causes of {s} | compare {s} and {t}",
        "the French Revolution, the fall of Rome, the Cold War, the Meiji Restoration, "
        "the Silk Road, the printing press",
    ),
    _t(
        "education",
        "teaching",
        "create a lesson plan about {s} | write quiz questions about {s} | "
        "how can I explain {s} to ten-year-olds",
        "fractions, the water cycle, persuasive writing, the solar system, photosynthesis, World War One",
    ),
    _t(
        "education",
        "study",
        "make flashcards for {s} | explain {s} like I am five | create a study schedule for {s}",
        "organic chemistry, the bar exam, AP biology, learning Spanish, the GRE quantitative section",
    ),
    _t(
        "education",
        "philosophy",
        "explain {s} | compare {s} and {t} | what are the main criticisms of {s}",
        "utilitarianism, Kant's categorical imperative, existentialism, the trolley problem, Stoicism",
    ),
    # data and ML
    _t(
        "data",
        "analysis",
        "write pandas code to {s} | how do I {s} in Excel | explain how to {s}",
        "group sales by month, remove outliers, merge two CSV files, pivot a table, "
        "handle missing values, compute a moving average",
    ),
    _t(
        "data",
        "ml",
        "explain {s} | when should I use {s} instead of {t} | how do I tune {s}",
        "gradient boosting, random forests, logistic regression, cross-validation, "
        "transformers, overfitting, k-means clustering",
    ),
    _t(
        "data",
        "llm",
        "write a prompt that {s} | explain {s} | how do I evaluate {s}",
        "extracts invoice fields as JSON, retrieval-augmented generation, few-shot prompting, "
        "fine-tuning a small model, hallucinations in chatbots",
    ),
    _t(
        "data",
        "visualisation",
        "create a chart that shows {s} | which chart type fits {s} | write matplotlib code for {s}",
        "sales by region, a correlation matrix, a time series with seasonality, survey results, a funnel",
    ),
    # everyday life
    _t(
        "everyday",
        "travel",
        "plan {s} | what should I pack for {s} | suggest things to do on {s}",
        "a three-day trip to Lisbon, a week in Japan on a budget, a road trip through Utah, "
        "a weekend in Paris with kids, a hiking trip in Patagonia",
    ),
    _t(
        "everyday",
        "cooking",
        "give me a recipe for {s} | how do I make {s} without {t} | what can I cook with {s}",
        "banana bread, chicken curry, leftover rice, a vegan lasagne, sourdough starter, eggs",
    ),
    _t(
        "everyday",
        "money",
        "explain {s} | help me create {s} | should I {s}",
        "a monthly budget, an emergency fund, index funds, paying off credit card debt, a retirement account",
    ),
    _t(
        "everyday",
        "home",
        "how do I fix {s} | what tools do I need for {s} | step-by-step guide to {s}",
        "a leaking tap, a squeaky door, painting a room, mounting a TV, unclogging a drain",
    ),
    _t(
        "everyday",
        "advice",
        "how should I handle {s} | give me advice on {s} | write a message about {s}",
        "a disagreement with a roommate, asking for feedback at work, planning a surprise party, "
        "saying no to extra work, a long-distance friendship",
    ),
    # languages
    _t(
        "languages",
        "translation",
        "translate {s} into Spanish | translate {s} into French | how do you say {s} in German",
        "a restaurant reservation request, a short business email, a birthday message, "
        "directions to the train station, a product description",
    ),
    _t(
        "languages",
        "grammar",
        "explain {s} | correct the grammar in a sentence about {s} | when do I use {s}",
        "the subjunctive in Spanish, the present perfect, German cases, French gendered nouns, phrasal verbs",
    ),
    # reasoning
    _t(
        "reasoning",
        "puzzles",
        "solve this puzzle: {s} | explain the trick behind {s} | create a new puzzle like {s}",
        "the river crossing puzzle, a knights and knaves riddle, the three light switches, "
        "a Sudoku strategy, the twelve coins problem",
    ),
    _t(
        "reasoning",
        "estimation",
        "estimate {s} | walk through a Fermi estimate of {s} | how would you estimate {s}",
        "the number of piano tuners in Chicago, how many golf balls fit in a bus, "
        "the daily water use of a city, the number of trees on Earth",
    ),
    _t(
        "reasoning",
        "planning",
        "make a plan for {s} | schedule {s} | what is the best order for {s}",
        "moving house in two weeks, a conference with four parallel tracks, studying for three exams, "
        "renovating a kitchen",
    ),
)

DOMAINS: tuple[str, ...] = tuple(dict.fromkeys(topic.domain for topic in TOPICS))
TOPICS_BY_DOMAIN: dict[str, tuple[int, ...]] = {
    domain: tuple(i for i, topic in enumerate(TOPICS) if topic.domain == domain) for domain in DOMAINS
}
