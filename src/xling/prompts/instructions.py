"""The RAG answer instruction written in the asker's language.

BERGEN (Rau et al., 2024) found that "answer in Swahili" written in English is followed less
often than the same instruction written in Swahili; its recommended setting translates the
system prompt. These instructions were written by hand, one per language, not machine-translated
at run time. Each holds the whole answer prompt's wording: the system instruction (answer from
the numbered passages only, in this language, even when the passages are in other languages;
cite them as ``[1]``; say so when they do not hold the answer), the re-ask's stronger sentence,
the reminder after the question, and the prompt's labels.

A written instruction names its own language inline ("en français") and needs no placeholder.
The English one is the fallback for every language without a written instruction, so it names
the answer's language with ``{language}`` and, in the re-ask, the languages not to use with
``{others}``. ``tests/prompts/test_instructions.py`` checks each text with an unrestricted LID
backend (the text is identified as its language), the citation marker and the placeholders.
Pure text: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from xling.core.languages import normalize_code
from xling.core.validation import check_choice

__all__ = [
    "INSTRUCTION_LANGS",
    "INSTRUCTIONS",
    "Instruction",
    "InstructionLang",
    "get_instruction",
    "written_languages",
]

InstructionLang = Literal["user", "eng"]
"""Which language the instruction is written in: the asker's (``user``) or English."""
INSTRUCTION_LANGS: tuple[InstructionLang, ...] = get_args(InstructionLang)


@dataclass(frozen=True)
class Instruction:
    """The answer prompt's wording in one language.

    Attributes:
        lang: The language it is written in (ISO 639-3).
        rule: The system instruction, with the citation rule and its ``[1]`` example.
        strict: The re-ask's sentences, appended to ``rule``.
        reminder: The line after the question ("Answer in French.").
        strict_reminder: The re-ask's line after the question ("Answer in French only.").
        passages: The label above the numbered passages.
        question: The label before the question.
        answer: The label the completion prompt ends with.
        join: What separates ``rule`` from ``strict`` (no space in Chinese and Japanese).
    """

    lang: str
    rule: str
    strict: str
    reminder: str
    strict_reminder: str
    passages: str
    question: str
    answer: str
    join: str = " "

    def system(self, language: str, *, strict: bool = False, others: str = "") -> str:
        """The system instruction (the re-ask's when ``strict``).

        Args:
            language: The answer language's English name (used by the English template only).
            strict: The re-ask: the stronger sentences appended.
            others: Languages not to use, named in English (English template only; empty:
                "any other language").
        """
        text = self.rule
        if strict:
            text += self.join + self.strict
        return text.format(language=language, others=others or "any other language")

    def user_reminder(self, language: str, *, strict: bool = False) -> str:
        """The line after the question."""
        return (self.strict_reminder if strict else self.reminder).format(language=language)


_ENGLISH = Instruction(
    "eng",
    "Answer the question using only the passages below. Write your answer in {language}, even "
    "when the passages are in other languages. Cite the passages you used by their numbers in "
    "square brackets, like [1]. If the passages do not contain the answer, say so in "
    "{language}.",
    "Your previous answer was not in {language}. Answer ONLY in {language}; do not write in "
    "{others}.",
    "Answer in {language}.",
    "Answer in {language} only.",
    "Passages:",
    "Question:",
    "Answer:",
)

_WRITTEN = [
    Instruction(
        "fra",
        "Répondez à la question en vous appuyant uniquement sur les passages ci-dessous. "
        "Rédigez votre réponse en français, même si les passages sont dans d'autres langues. "
        "Citez les passages utilisés par leur numéro entre crochets, par exemple [1]. Si les "
        "passages ne contiennent pas la réponse, dites-le en français.",
        "Votre réponse précédente n'était pas en français. Répondez UNIQUEMENT en français ; "
        "n'écrivez ni en anglais ni dans une autre langue.",
        "Répondez en français.",
        "Répondez uniquement en français.",
        "Passages :",
        "Question :",
        "Réponse :",
    ),
    Instruction(
        "deu",
        "Beantworte die Frage ausschließlich anhand der folgenden Textstellen. Schreibe deine "
        "Antwort auf Deutsch, auch wenn die Textstellen in anderen Sprachen sind. Gib die "
        "verwendeten Textstellen mit ihren Nummern in eckigen Klammern an, zum Beispiel [1]. "
        "Wenn die Textstellen die Antwort nicht enthalten, sage das auf Deutsch.",
        "Deine vorherige Antwort war nicht auf Deutsch. Antworte NUR auf Deutsch; schreibe "
        "weder auf Englisch noch in einer anderen Sprache.",
        "Antworte auf Deutsch.",
        "Antworte nur auf Deutsch.",
        "Textstellen:",
        "Frage:",
        "Antwort:",
    ),
    Instruction(
        "spa",
        "Responde a la pregunta usando solo los pasajes de abajo. Escribe tu respuesta en "
        "español, aunque los pasajes estén en otros idiomas. Cita los pasajes que uses por su "
        "número entre corchetes, por ejemplo [1]. Si los pasajes no contienen la respuesta, "
        "dilo en español.",
        "Tu respuesta anterior no estaba en español. Responde SOLO en español; no escribas en "
        "inglés ni en ningún otro idioma.",
        "Responde en español.",
        "Responde solo en español.",
        "Pasajes:",
        "Pregunta:",
        "Respuesta:",
    ),
    Instruction(
        "por",
        "Responda à pergunta usando apenas os trechos abaixo. Escreva a sua resposta em "
        "português, mesmo que os trechos estejam em outras línguas. Cite os trechos que usou "
        "pelo número entre colchetes, por exemplo [1]. Se os trechos não contiverem a resposta, "
        "diga isso em português.",
        "A sua resposta anterior não estava em português. Responda APENAS em português; não "
        "escreva em inglês nem em qualquer outra língua.",
        "Responda em português.",
        "Responda apenas em português.",
        "Trechos:",
        "Pergunta:",
        "Resposta:",
    ),
    Instruction(
        "ita",
        "Rispondi alla domanda usando solo i passaggi qui sotto. Scrivi la risposta in "
        "italiano, anche se i passaggi sono in altre lingue. Cita i passaggi che hai usato con "
        "il loro numero tra parentesi quadre, per esempio [1]. Se i passaggi non contengono la "
        "risposta, dillo in italiano.",
        "La tua risposta precedente non era in italiano. Rispondi SOLO in italiano; non "
        "scrivere in inglese né in nessun'altra lingua.",
        "Rispondi in italiano.",
        "Rispondi solo in italiano.",
        "Passaggi:",
        "Domanda:",
        "Risposta:",
    ),
    Instruction(
        "nld",
        "Beantwoord de vraag alleen met behulp van de onderstaande fragmenten. Schrijf je "
        "antwoord in het Nederlands, ook als de fragmenten in andere talen zijn. Verwijs naar "
        "de fragmenten die je hebt gebruikt met hun nummer tussen vierkante haken, bijvoorbeeld "
        "[1]. Als de fragmenten het antwoord niet bevatten, zeg dat dan in het Nederlands.",
        "Je vorige antwoord was niet in het Nederlands. Antwoord ALLEEN in het Nederlands; "
        "schrijf niet in het Engels of in een andere taal.",
        "Antwoord in het Nederlands.",
        "Antwoord alleen in het Nederlands.",
        "Fragmenten:",
        "Vraag:",
        "Antwoord:",
    ),
    Instruction(
        "swe",
        "Besvara frågan med hjälp av enbart textavsnitten nedan. Skriv ditt svar på svenska, "
        "även om textavsnitten är på andra språk. Hänvisa till de avsnitt du har använt med "
        "deras nummer inom hakparenteser, till exempel [1]. Om textavsnitten inte innehåller "
        "svaret, säg det på svenska.",
        "Ditt tidigare svar var inte på svenska. Svara ENDAST på svenska; skriv inte på "
        "engelska eller på något annat språk.",
        "Svara på svenska.",
        "Svara endast på svenska.",
        "Textavsnitt:",
        "Fråga:",
        "Svar:",
    ),
    Instruction(
        "ron",
        "Răspunde la întrebare folosind numai pasajele de mai jos. Scrie răspunsul în limba "
        "română, chiar dacă pasajele sunt în alte limbi. Citează pasajele folosite prin numărul "
        "lor între paranteze drepte, de exemplu [1]. Dacă pasajele nu conțin răspunsul, spune "
        "acest lucru în limba română.",
        "Răspunsul tău anterior nu a fost în limba română. Răspunde DOAR în limba română; nu "
        "scrie în engleză sau în altă limbă.",
        "Răspunde în limba română.",
        "Răspunde doar în limba română.",
        "Pasaje:",
        "Întrebare:",
        "Răspuns:",
    ),
    Instruction(
        "pol",
        "Odpowiedz na pytanie, korzystając wyłącznie z poniższych fragmentów. Napisz odpowiedź "
        "po polsku, nawet jeśli fragmenty są w innych językach. Podaj numery wykorzystanych "
        "fragmentów w nawiasach kwadratowych, na przykład [1]. Jeśli fragmenty nie zawierają "
        "odpowiedzi, napisz to po polsku.",
        "Twoja poprzednia odpowiedź nie była po polsku. Odpowiadaj WYŁĄCZNIE po polsku; nie "
        "pisz po angielsku ani w żadnym innym języku.",
        "Odpowiedz po polsku.",
        "Odpowiedz tylko po polsku.",
        "Fragmenty:",
        "Pytanie:",
        "Odpowiedź:",
    ),
    Instruction(
        "ces",
        "Odpověz na otázku pouze na základě níže uvedených úryvků. Napiš odpověď česky, i když "
        "jsou úryvky v jiných jazycích. Uveď čísla použitých úryvků v hranatých závorkách, "
        "například [1]. Pokud úryvky odpověď neobsahují, řekni to česky.",
        "Tvoje předchozí odpověď nebyla v češtině. Odpovídej POUZE česky; nepiš anglicky ani "
        "v žádném jiném jazyce.",
        "Odpověz česky.",
        "Odpověz pouze česky.",
        "Úryvky:",
        "Otázka:",
        "Odpověď:",
    ),
    Instruction(
        "rus",
        "Ответь на вопрос, используя только приведённые ниже фрагменты. Напиши ответ на "
        "русском языке, даже если фрагменты написаны на других языках. Ссылайся на "
        "использованные фрагменты по их номерам в квадратных скобках, например [1]. Если во "
        "фрагментах нет ответа, скажи об этом по-русски.",
        "Твой предыдущий ответ был не на русском языке. Отвечай ТОЛЬКО на русском; не пиши ни "
        "на английском, ни на каком-либо другом языке.",
        "Ответь на русском языке.",
        "Отвечай только на русском языке.",
        "Фрагменты:",
        "Вопрос:",
        "Ответ:",
    ),
    Instruction(
        "ukr",
        "Дай відповідь на запитання, використовуючи лише наведені нижче фрагменти. Напиши "
        "відповідь українською мовою, навіть якщо фрагменти іншими мовами. Посилайся на "
        "використані фрагменти за їхніми номерами у квадратних дужках, наприклад [1]. Якщо у "
        "фрагментах немає відповіді, скажи про це українською.",
        "Твоя попередня відповідь була не українською мовою. Відповідай ЛИШЕ українською; не "
        "пиши ні англійською, ні будь-якою іншою мовою.",
        "Відповідай українською мовою.",
        "Відповідай лише українською мовою.",
        "Фрагменти:",
        "Запитання:",
        "Відповідь:",
    ),
    Instruction(
        "ell",
        "Απάντησε στην ερώτηση χρησιμοποιώντας μόνο τα παρακάτω αποσπάσματα. Γράψε την "
        "απάντησή σου στα ελληνικά, ακόμη κι αν τα αποσπάσματα είναι σε άλλες γλώσσες. Ανέφερε "
        "τα αποσπάσματα που χρησιμοποίησες με τον αριθμό τους σε αγκύλες, για παράδειγμα [1]. "
        "Αν τα αποσπάσματα δεν περιέχουν την απάντηση, πες το στα ελληνικά.",
        "Η προηγούμενη απάντησή σου δεν ήταν στα ελληνικά. Απάντησε ΜΟΝΟ στα ελληνικά· μη "
        "γράφεις στα αγγλικά ούτε σε καμία άλλη γλώσσα.",
        "Απάντησε στα ελληνικά.",
        "Απάντησε μόνο στα ελληνικά.",
        "Αποσπάσματα:",
        "Ερώτηση:",
        "Απάντηση:",
    ),
    Instruction(
        "tur",
        "Soruyu yalnızca aşağıdaki metin parçalarını kullanarak yanıtla. Parçalar başka "
        "dillerde olsa bile cevabını Türkçe yaz. Kullandığın parçaları köşeli parantez içinde "
        "numaralarıyla belirt, örneğin [1]. Parçalar cevabı içermiyorsa bunu Türkçe olarak "
        "söyle.",
        "Önceki cevabın Türkçe değildi. YALNIZCA Türkçe cevap ver; İngilizce ya da başka bir "
        "dilde yazma.",
        "Türkçe cevap ver.",
        "Yalnızca Türkçe cevap ver.",
        "Metin parçaları:",
        "Soru:",
        "Cevap:",
    ),
    Instruction(
        "arb",
        "أجب عن السؤال مستخدمًا المقاطع الواردة أدناه فقط. اكتب إجابتك باللغة العربية، حتى لو "
        "كانت المقاطع بلغات أخرى. استشهد بالمقاطع التي استخدمتها بأرقامها بين قوسين معقوفين، "
        "مثل [1]. إذا لم تتضمن المقاطع الإجابة، فقل ذلك باللغة العربية.",
        "لم تكن إجابتك السابقة باللغة العربية. أجب باللغة العربية فقط؛ لا تكتب بالإنجليزية ولا "
        "بأي لغة أخرى.",
        "أجب باللغة العربية.",
        "أجب باللغة العربية فقط.",
        "المقاطع:",
        "السؤال:",
        "الإجابة:",
    ),
    Instruction(
        "heb",
        "ענה על השאלה רק בעזרת הקטעים שלהלן. כתוב את תשובתך בעברית, גם אם הקטעים כתובים "
        "בשפות אחרות. ציין את הקטעים שבהם השתמשת לפי המספר שלהם בסוגריים מרובעים, למשל [1]. "
        "אם הקטעים אינם מכילים את התשובה, אמור זאת בעברית.",
        "התשובה הקודמת שלך לא הייתה בעברית. ענה רק בעברית; אל תכתוב באנגלית או בשפה אחרת.",
        "ענה בעברית.",
        "ענה רק בעברית.",
        "קטעים:",
        "שאלה:",
        "תשובה:",
    ),
    Instruction(
        "pes",
        "فقط با استفاده از بخش‌های زیر به پرسش پاسخ بده. پاسخت را به زبان فارسی بنویس، حتی "
        "اگر بخش‌ها به زبان‌های دیگری باشند. بخش‌هایی را که استفاده کردی با شماره‌شان در "
        "کروشه ذکر کن، مانند [1]. اگر پاسخ در بخش‌ها نیست، این را به فارسی بگو.",
        "پاسخ قبلی تو به فارسی نبود. فقط به فارسی پاسخ بده؛ به انگلیسی یا هیچ زبان دیگری ننویس.",
        "به فارسی پاسخ بده.",
        "فقط به فارسی پاسخ بده.",
        "بخش‌ها:",
        "پرسش:",
        "پاسخ:",
    ),
    Instruction(
        "hin",
        "नीचे दिए गए अंशों का ही उपयोग करके प्रश्न का उत्तर दें। अपना उत्तर हिंदी में लिखें, "
        "भले ही अंश दूसरी भाषाओं में हों। जिन अंशों का आपने उपयोग किया है, उनकी संख्या "
        "वर्गाकार कोष्ठक में लिखें, जैसे [1]। यदि अंशों में उत्तर नहीं है, तो यह बात हिंदी में "
        "बताएँ।",
        "आपका पिछला उत्तर हिंदी में नहीं था। केवल हिंदी में उत्तर दें; अंग्रेज़ी या किसी अन्य भाषा में न लिखें।",
        "हिंदी में उत्तर दें।",
        "केवल हिंदी में उत्तर दें।",
        "अंश:",
        "प्रश्न:",
        "उत्तर:",
    ),
    Instruction(
        "ben",
        "শুধুমাত্র নিচের অংশগুলো ব্যবহার করে প্রশ্নের উত্তর দিন। অংশগুলো অন্য ভাষায় থাকলেও "
        "আপনার উত্তর বাংলায় লিখুন। যে অংশগুলো ব্যবহার করেছেন, সেগুলোর নম্বর বর্গাকার "
        "বন্ধনীতে উল্লেখ করুন, যেমন [1]। যদি অংশগুলোতে উত্তর না থাকে, তাহলে সেটি বাংলায় বলুন।",
        "আপনার আগের উত্তরটি বাংলায় ছিল না। শুধুমাত্র বাংলায় উত্তর দিন; ইংরেজি বা অন্য কোনো ভাষায় লিখবেন না।",
        "বাংলায় উত্তর দিন।",
        "শুধুমাত্র বাংলায় উত্তর দিন।",
        "অংশ:",
        "প্রশ্ন:",
        "উত্তর:",
    ),
    Instruction(
        "tha",
        "จงตอบคำถามโดยใช้เฉพาะข้อความด้านล่างนี้เท่านั้น เขียนคำตอบเป็นภาษาไทย "
        "แม้ว่าข้อความจะเป็นภาษาอื่นก็ตาม อ้างอิงข้อความที่ใช้ด้วยหมายเลขในวงเล็บเหลี่ยม เช่น [1] "
        "หากข้อความไม่มีคำตอบ ให้บอกเช่นนั้นเป็นภาษาไทย",
        "คำตอบก่อนหน้าของคุณไม่ได้เป็นภาษาไทย ตอบเป็นภาษาไทยเท่านั้น ห้ามเขียนเป็นภาษาอังกฤษหรือภาษาอื่นใด",
        "ตอบเป็นภาษาไทย",
        "ตอบเป็นภาษาไทยเท่านั้น",
        "ข้อความ:",
        "คำถาม:",
        "คำตอบ:",
    ),
    Instruction(
        "vie",
        "Hãy trả lời câu hỏi chỉ dựa vào các đoạn văn dưới đây. Viết câu trả lời bằng tiếng "
        "Việt, kể cả khi các đoạn văn được viết bằng ngôn ngữ khác. Trích dẫn các đoạn văn bạn "
        "đã dùng bằng số thứ tự trong dấu ngoặc vuông, ví dụ [1]. Nếu các đoạn văn không chứa "
        "câu trả lời, hãy nói điều đó bằng tiếng Việt.",
        "Câu trả lời trước của bạn không phải bằng tiếng Việt. CHỈ trả lời bằng tiếng Việt; "
        "không viết bằng tiếng Anh hay bất kỳ ngôn ngữ nào khác.",
        "Hãy trả lời bằng tiếng Việt.",
        "Chỉ trả lời bằng tiếng Việt.",
        "Các đoạn văn:",
        "Câu hỏi:",
        "Câu trả lời:",
    ),
    Instruction(
        "ind",
        "Jawablah pertanyaan hanya dengan menggunakan kutipan di bawah ini. Tulis jawaban Anda "
        "dalam bahasa Indonesia, meskipun kutipan-kutipan itu dalam bahasa lain. Sebutkan "
        "kutipan yang Anda gunakan dengan nomornya dalam tanda kurung siku, misalnya [1]. Jika "
        "kutipan tidak berisi jawabannya, katakan hal itu dalam bahasa Indonesia.",
        "Jawaban Anda sebelumnya tidak dalam bahasa Indonesia. Jawablah HANYA dalam bahasa "
        "Indonesia; jangan menulis dalam bahasa Inggris atau bahasa lain.",
        "Jawablah dalam bahasa Indonesia.",
        "Jawablah hanya dalam bahasa Indonesia.",
        "Kutipan:",
        "Pertanyaan:",
        "Jawaban:",
    ),
    Instruction(
        "swh",
        "Jibu swali kwa kutumia vifungu vilivyo hapa chini pekee. Andika jibu lako kwa "
        "Kiswahili, hata kama vifungu viko katika lugha nyingine. Taja vifungu ulivyotumia kwa "
        "namba zao ndani ya mabano ya mraba, kwa mfano [1]. Ikiwa vifungu havina jibu, sema "
        "hivyo kwa Kiswahili.",
        "Jibu lako la awali halikuwa kwa Kiswahili. Jibu kwa Kiswahili PEKEE; usiandike kwa "
        "Kiingereza wala kwa lugha nyingine yoyote.",
        "Jibu kwa Kiswahili.",
        "Jibu kwa Kiswahili pekee.",
        "Vifungu:",
        "Swali:",
        "Jibu:",
    ),
    Instruction(
        "jpn",
        "以下の文章だけを使って質問に答えてください。文章がほかの言語で書かれていても、回答は"
        "日本語で書いてください。使った文章は、角括弧で囲んだ番号で引用してください（例：[1]）。"
        "文章に答えが含まれていない場合は、そのことを日本語で伝えてください。",
        "前回の回答は日本語ではありませんでした。日本語だけで答えてください。英語やほかの言語で"
        "書かないでください。",
        "日本語で答えてください。",
        "日本語だけで答えてください。",
        "文章：",
        "質問：",
        "回答：",
        join="",
    ),
    Instruction(
        "cmn",
        "请只根据下面的段落回答问题。即使段落是用其他语言写的，也请用中文写出你的回答。"
        "请用方括号中的编号引用你使用的段落，例如 [1]。如果段落中没有答案，请用中文说明。",
        "你之前的回答不是中文。请只用中文回答；不要用英文或任何其他语言书写。",
        "请用中文回答。",
        "请只用中文回答。",
        "段落：",
        "问题：",
        "回答：",
        join="",
    ),
    Instruction(
        "kor",
        "아래 단락만 사용하여 질문에 답하세요. 단락이 다른 언어로 되어 있더라도 답변은 "
        "한국어로 작성하세요. 사용한 단락은 대괄호 안의 번호로 인용하세요(예: [1]). 단락에 "
        "답이 없으면 한국어로 그렇다고 말하세요.",
        "이전 답변은 한국어가 아니었습니다. 한국어로만 답하세요. 영어나 다른 언어로 쓰지 마세요.",
        "한국어로 답하세요.",
        "한국어로만 답하세요.",
        "단락:",
        "질문:",
        "답변:",
    ),
]

INSTRUCTIONS: dict[str, Instruction] = {"eng": _ENGLISH, **{i.lang: i for i in _WRITTEN}}
"""Every written instruction by language, English (the fallback) first."""


def written_languages() -> list[str]:
    """The languages with a written instruction (English first, then the table's order)."""
    return list(INSTRUCTIONS)


def get_instruction(language: str, instruction_lang: InstructionLang = "user") -> Instruction:
    """The instruction for an answer in ``language``.

    Args:
        language: The answer's language (any code: ``fr``, ``fra``, ``fra_Latn``).
        instruction_lang: ``user``: written in ``language`` when there is such an instruction,
            else English (see :attr:`Instruction.lang` for which one was chosen); ``eng``:
            always English.

    Raises:
        InvalidInputError: On an unknown language code or ``instruction_lang``.
    """
    check_choice(instruction_lang, "instruction_lang", INSTRUCTION_LANGS)
    code = normalize_code(language)
    if instruction_lang == "eng":
        return _ENGLISH
    return INSTRUCTIONS.get(code, _ENGLISH)
