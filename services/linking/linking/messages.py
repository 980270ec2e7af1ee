"""Translated problem messages of the linking service. Guardian-facing codes exist in
every supported locale (en, es, vi, ar, so, ht); staff-facing ones in English."""

from __future__ import annotations

from shared.runtime.problems import register_messages
from shared.runtime.staff_tokens import STAFF_TOKEN_MESSAGES

GUARDIAN_MESSAGES: dict[str, dict[str, str]] = {
    "keys-unavailable": {
        "en": "Your sign-in cannot be checked right now. Try again in a moment.",
        "es": "No se puede comprobar su inicio de sesión en este momento. Inténtelo de nuevo "
        "en un momento.",
        "vi": "Hiện không thể kiểm tra phiên đăng nhập của bạn. Vui lòng thử lại sau giây lát.",
        "ar": "لا يمكن التحقق من تسجيل دخولك الآن. حاول مرة أخرى بعد قليل.",
        "so": "Hadda lama hubin karo gelitaankaaga. Isku day mar kale wax yar kadib.",
        "ht": "Nou pa ka verifye koneksyon ou kounye a. Eseye ankò nan yon ti moman.",
    },
    "student-not-matched": {
        "en": "We could not match these details to a student. Check the school, the student "
        "ID and the student's last name, then try again.",
        "es": "No pudimos encontrar un estudiante con estos datos. Verifique la escuela, el "
        "número de identificación del estudiante y su apellido, y vuelva a intentarlo.",
        "vi": "Chúng tôi không thể tìm thấy học sinh khớp với các thông tin này. Hãy kiểm tra "
        "trường, mã số học sinh và họ của học sinh, rồi thử lại.",
        "ar": "لم نتمكن من مطابقة هذه البيانات مع أي طالب. تحقق من المدرسة ورقم الطالب واسم "
        "عائلة الطالب، ثم حاول مرة أخرى.",
        "so": "Kuma aanan helin arday ku habboon xogtan. Hubi dugsiga, lambarka aqoonsiga "
        "ardayga iyo magaca dambe ee ardayga, kadibna isku day mar kale.",
        "ht": "Nou pa t kapab jwenn yon elèv ki koresponn ak enfòmasyon sa yo. Verifye lekòl "
        "la, nimewo idantifikasyon elèv la ak siyati elèv la, epi eseye ankò.",
    },
    "too-many-attempts": {
        "en": "Too many unsuccessful attempts today. Try again tomorrow or contact the school.",
        "es": "Demasiados intentos fallidos hoy. Vuelva a intentarlo mañana o comuníquese con "
        "la escuela.",
        "vi": "Hôm nay đã có quá nhiều lần thử không thành công. Hãy thử lại vào ngày mai hoặc "
        "liên hệ với nhà trường.",
        "ar": "محاولات فاشلة كثيرة جدًا اليوم. حاول مرة أخرى غدًا أو اتصل بالمدرسة.",
        "so": "Isku dayo badan oo aan guuleysan ayaa maanta dhacay. Isku day berri ama la "
        "xiriir dugsiga.",
        "ht": "Twòp tantativ ki pa reyisi jodi a. Eseye ankò demen oswa kontakte lekòl la.",
    },
    "attempt-in-progress": {
        "en": "Your previous request is still being checked. Try again in a moment.",
        "es": "Su solicitud anterior todavía se está revisando. Vuelva a intentarlo en breve.",
        "vi": "Yêu cầu trước của bạn vẫn đang được kiểm tra. Vui lòng thử lại sau giây lát.",
        "ar": "لا يزال طلبك السابق قيد التحقق. حاول مرة أخرى بعد قليل.",
        "so": "Codsigaagii hore weli waa la hubinayaa. Isku day mar kale wax yar kadib.",
        "ht": "Nou toujou ap verifye demann ou te fè anvan an. Eseye ankò nan yon ti moman.",
    },
    "activation-code-invalid": {
        "en": "This activation code is not valid. Check it, or ask the school for a new code.",
        "es": "Este código de activación no es válido. Verifíquelo o pida un código nuevo a la "
        "escuela.",
        "vi": "Mã kích hoạt này không hợp lệ. Hãy kiểm tra lại hoặc xin nhà trường một mã mới.",
        "ar": "رمز التفعيل هذا غير صالح. تحقق منه أو اطلب رمزًا جديدًا من المدرسة.",
        "so": "Koodhkan firfircoonaynta ma ansaxa. Hubi, ama dugsiga ka codso koodh cusub.",
        "ht": "Kòd aktivasyon sa a pa valab. Verifye l, oswa mande lekòl la yon nouvo kòd.",
    },
    "link-method-disabled": {
        "en": "This way of linking a student is not available in your district.",
        "es": "Esta forma de vincular a un estudiante no está disponible en su distrito.",
        "vi": "Cách liên kết học sinh này không được áp dụng tại học khu của bạn.",
        "ar": "طريقة ربط الطالب هذه غير متاحة في منطقتك التعليمية.",
        "so": "Habkan lagu xiriiriyo ardayga lagama heli karo degmadaada waxbarashada.",
        "ht": "Fason sa a pou konekte yon elèv pa disponib nan distri ou a.",
    },
    "link-not-found": {
        "en": "This link request was not found.",
        "es": "No se encontró esta solicitud de vinculación.",
        "vi": "Không tìm thấy yêu cầu liên kết này.",
        "ar": "لم يتم العثور على طلب الربط هذا.",
        "so": "Codsigan xiriirinta lama helin.",
        "ht": "Nou pa jwenn demann koneksyon sa a.",
    },
    "link-state-conflict": {
        "en": "This request can no longer be changed.",
        "es": "Esta solicitud ya no se puede modificar.",
        "vi": "Yêu cầu này không thể thay đổi được nữa.",
        "ar": "لم يعد من الممكن تغيير هذا الطلب.",
        "so": "Codsigan mar dambe lama beddeli karo.",
        "ht": "Demann sa a pa ka chanje ankò.",
    },
    "link-revoked": {
        "en": "A link to this student cannot be requested online. Please contact the school.",
        "es": "No se puede solicitar en línea un vínculo con este estudiante. Comuníquese con la "
        "escuela.",
        "vi": "Không thể yêu cầu liên kết với học sinh này qua mạng. Vui lòng liên hệ với nhà "
        "trường.",
        "ar": "لا يمكن طلب الربط بهذا الطالب عبر الإنترنت. يرجى الاتصال بالمدرسة.",
        "so": "Xiriirinta ardaygan looma codsan karo khadka tooska ah. Fadlan la xiriir dugsiga.",
        "ht": "Ou pa ka mande yon koneksyon ak elèv sa a sou entènèt. Tanpri kontakte lekòl la.",
    },
    "account-unavailable": {
        "en": "This account is no longer available.",
        "es": "Esta cuenta ya no está disponible.",
        "vi": "Tài khoản này không còn khả dụng.",
        "ar": "هذا الحساب لم يعد متاحًا.",
        "so": "Akoonkan lama heli karo mar dambe.",
        "ht": "Kont sa a pa disponib ankò.",
    },
    "sign-in-required": {
        "en": "Please sign in again.",
        "es": "Inicie sesión de nuevo.",
        "vi": "Vui lòng đăng nhập lại.",
        "ar": "يرجى تسجيل الدخول مرة أخرى.",
        "so": "Fadlan mar kale gal.",
        "ht": "Tanpri konekte ankò.",
    },
    "concurrent-update": {
        "en": "This request changed while you were working on it. Reload and try again.",
        "es": "Esta solicitud cambió mientras trabajaba en ella. Vuelva a cargar e inténtelo "
        "de nuevo.",
        "vi": "Yêu cầu này đã thay đổi trong lúc bạn đang thao tác. Hãy tải lại và thử lại.",
        "ar": "تغيّر هذا الطلب أثناء عملك عليه. أعد التحميل وحاول مرة أخرى.",
        "so": "Codsigan wuu isbeddelay intaad ka shaqaynaysay. Dib u soo shub oo isku day mar "
        "kale.",
        "ht": "Demann sa a chanje pandan w t ap travay sou li. Rechaje paj la epi eseye ankò.",
    },
    "legacy-credentials-incomplete": {
        "en": "Enter both the username and the password of the previous parent portal.",
        "es": "Introduzca el nombre de usuario y la contraseña del portal para padres anterior.",
        "vi": "Hãy nhập cả tên đăng nhập và mật khẩu của cổng thông tin phụ huynh trước đây.",
        "ar": "أدخل اسم المستخدم وكلمة المرور لبوابة أولياء الأمور السابقة.",
        "so": "Geli magaca isticmaalaha iyo furaha sirta ah ee bogga waalidiinta hore.",
        "ht": "Antre non itilizatè a ak modpas ansyen pòtay paran an.",
    },
    "one-link-method": {
        "en": "Use either an activation code or the previous portal's credentials, not both.",
        "es": "Use un código de activación o las credenciales del portal anterior, no ambos.",
        "vi": "Hãy dùng mã kích hoạt hoặc thông tin đăng nhập của cổng cũ, không dùng cả hai.",
        "ar": "استخدم رمز التفعيل أو بيانات اعتماد البوابة السابقة، وليس كليهما.",
        "so": "Isticmaal koodh firfircoonayn ama aqoonsiga bogga hore, labadaba ha isticmaalin.",
        "ht": "Sèvi ak yon kòd aktivasyon oswa idantifyan ansyen pòtay la, pa toude.",
    },
}

STAFF_MESSAGES: dict[str, dict[str, str]] = {
    "forbidden": {
        "en": "You are not allowed to act for this school.",
        "es": "No tiene permiso para actuar en nombre de esta escuela.",
    },
    "guardian-not-found": {
        "en": "No guardian with this email is linked to, or asking for, a student of this "
        "school.",
        "es": "Ningún tutor con este correo está vinculado a un estudiante de esta escuela "
        "ni lo ha solicitado.",
    },
    "student-not-found": {"en": "No active student with this id at this school."},
    "restriction-not-found": {"en": "This student is not under restriction."},
    "activation-code-not-found": {"en": "No such activation code for this student."},
    "activation-code-used": {
        "en": "This activation code was already used; revoke the link instead."
    },
    "roster-file-invalid": {"en": "The roster file cannot be imported; nothing was changed."},
    "legacy-file-invalid": {
        "en": "The legacy credentials file cannot be imported; nothing was changed."
    },
    "invalid-cursor": {"en": "The cursor is not valid."},
    "upload-too-large": {"en": "The file is too large."},
}


def register() -> None:
    """Add the linking service's messages to the shared problem catalog."""
    register_messages(GUARDIAN_MESSAGES)
    register_messages(STAFF_MESSAGES)
    register_messages(STAFF_TOKEN_MESSAGES)
