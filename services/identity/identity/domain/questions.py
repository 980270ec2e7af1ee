"""The security questions a guardian may choose, by stable id, in every supported locale."""

from __future__ import annotations

#: question id → locale → text. Ids are public API (registration and reset bodies).
QUESTIONS: dict[str, dict[str, str]] = {
    "first_pet": {
        "en": "What was the name of your first pet?",
        "es": "¿Cómo se llamaba su primera mascota?",
        "vi": "Tên con vật nuôi đầu tiên của bạn là gì?",
        "ar": "ما اسم أول حيوان أليف امتلكته؟",
        "so": "Magaca xayawaankaagii ugu horreeyay ee guriga maxuu ahaa?",
        "ht": "Ki non premye bèt kay ou te genyen?",
    },
    "birth_city": {
        "en": "In what city were you born?",
        "es": "¿En qué ciudad nació?",
        "vi": "Bạn sinh ra ở thành phố nào?",
        "ar": "في أي مدينة ولدت؟",
        "so": "Magaalo noocee ah ayaad ku dhalatay?",
        "ht": "Nan ki vil ou te fèt?",
    },
    "mother_maiden_name": {
        "en": "What is your mother's maiden name?",
        "es": "¿Cuál es el apellido de soltera de su madre?",
        "vi": "Họ thời con gái của mẹ bạn là gì?",
        "ar": "ما اسم عائلة والدتك قبل الزواج؟",
        "so": "Magaca qoyska hooyadaa ka hor guurka waa maxay?",
        "ht": "Ki non fanmi manman ou anvan li te marye?",
    },
    "first_school": {
        "en": "What was the name of your first school?",
        "es": "¿Cómo se llamaba su primera escuela?",
        "vi": "Tên trường học đầu tiên của bạn là gì?",
        "ar": "ما اسم أول مدرسة التحقت بها؟",
        "so": "Magaca dugsigaagii ugu horreeyay maxuu ahaa?",
        "ht": "Ki non premye lekòl ou te ale?",
    },
    "favorite_teacher": {
        "en": "What was the last name of your favorite teacher?",
        "es": "¿Cuál era el apellido de su maestro favorito?",
        "vi": "Họ của giáo viên bạn yêu thích nhất là gì?",
        "ar": "ما اسم عائلة معلمك المفضل؟",
        "so": "Magaca dambe ee macallinkaagii aad ugu jeclayd maxuu ahaa?",
        "ht": "Ki siyati pwofesè ou te pi renmen an?",
    },
    "childhood_street": {
        "en": "What street did you live on as a child?",
        "es": "¿En qué calle vivía de niño?",
        "vi": "Hồi nhỏ bạn sống ở con đường nào?",
        "ar": "في أي شارع كنت تسكن في طفولتك؟",
        "so": "Waddadee ayaad ku noolayd markaad yarayd?",
        "ht": "Nan ki lari ou te rete lè ou te piti?",
    },
    "first_job": {
        "en": "What was your first job?",
        "es": "¿Cuál fue su primer trabajo?",
        "vi": "Công việc đầu tiên của bạn là gì?",
        "ar": "ما هي أول وظيفة عملت بها؟",
        "so": "Shaqadaadii ugu horreysay maxay ahayd?",
        "ht": "Ki premye travay ou te fè?",
    },
    "favorite_food": {
        "en": "What is your favorite food?",
        "es": "¿Cuál es su comida favorita?",
        "vi": "Món ăn yêu thích của bạn là gì?",
        "ar": "ما هو طعامك المفضل؟",
        "so": "Cuntada aad ugu jeceshahay waa maxay?",
        "ht": "Ki manje ou pi renmen?",
    },
}


def question_ids() -> list[str]:
    """Every question id, in catalog order."""
    return list(QUESTIONS)


def questions_in(locale: str) -> list[dict[str, str]]:
    """``[{question_id, text}]`` in ``locale`` (English for an unknown locale)."""
    return [
        {"question_id": qid, "text": texts.get(locale) or texts["en"]}
        for qid, texts in QUESTIONS.items()
    ]
