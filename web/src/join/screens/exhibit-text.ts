// The victim-facing words of the statement and upload panels, in the page's five languages.
// Kept apart so they can move into the i18n catalogues (web/src/i18n/catalogues/*.json) as
// "statement.*" and "upload.*" keys: one entry per key, the same keys in every language, and
// {placeholders} written as ICU would have them. The language is the page's own (<html lang>).
// The statement itself stays in the language it was taken in; the MG11 declaration is shown in
// the words the law uses, with its meaning explained in the reader's language.

export type ExhibitKey = keyof typeof en;

const en = {
  "statement.problem": "There is a problem",
  "statement.failed": "Something went wrong. Please try again.",
  "statement.yes": "Yes",
  "statement.no": "No",
  "statement.title": "Your written statement",
  "statement.waiting": "When the officer has written down what you said, it will appear here for you to read.",
  "statement.intro": "Please read it carefully. It should be in your own words. If anything is wrong or missing, ask the officer to change it before you sign.",
  "statement.changed": "The officer has changed the statement. Please read it again.",
  "statement.correctionLabel": "What should be changed?",
  "statement.correctionButton": "Ask the officer to change it",
  "statement.correctionSent": "Your request was sent to the officer. The statement will be updated here.",
  "statement.signTitle": "Sign your statement",
  "statement.declarationIntro": "By signing, you make this declaration. It means the statement is true, and that it is a crime to say something in it you know is false.",
  "statement.declarationCheck": "I have read my statement and I make this declaration",
  "statement.nameLabel": "Your full name",
  "statement.over18Legend": "Are you 18 or over?",
  "statement.ageLabel": "Your age",
  "statement.signatureLabel": "Sign here with your finger",
  "statement.signatureHint": "Draw your signature in the box.",
  "statement.clear": "Clear my signature",
  "statement.signButton": "Sign my statement",
  "statement.signed": "You signed this statement at {time}. Thank you.",
  "statement.errorDeclaration": "Tick the box to make the declaration",
  "statement.errorName": "Enter your full name",
  "statement.errorAge": "Enter your age",
  "statement.errorSignature": "Draw your signature in the box",
  "statement.errorChanged": "The statement changed while you were reading it. Please read it again before you sign.",
  "upload.title": "Send photos or videos",
  "upload.hint": "You can send photos or short videos about what happened, for example of damage or an injury. Photos: JPEG, PNG or HEIC. Videos: MP4, MOV or WebM. Up to {mb} MB each.",
  "upload.fileLabel": "Choose a photo or video",
  "upload.send": "Send to the officer",
  "upload.sending": "Sending…",
  "upload.sent": "Sent: {name}",
  "upload.listTitle": "What you have sent",
  "upload.fingerprint": "Fingerprint (SHA-256): {hash}",
  "upload.noFile": "Choose a file first",
  "upload.tooLarge": "This file is too large. Send a file up to {mb} MB.",
  "upload.wrongType": "This type of file cannot be sent. Send a photo (JPEG, PNG or HEIC) or a video (MP4, MOV or WebM).",
  "upload.incomplete": "This file seems to be damaged or incomplete. Try saving it again, then send it.",
  "upload.empty": "This file is empty.",
  "upload.failed": "The file could not be sent. Check your connection and try again.",
  "upload.expired": "This page has expired. Ask the officer for a new link.",
  "stills.taken": "The officer took a picture from the video at {time}.",
};

const cy: Record<ExhibitKey, string> = {
  "statement.problem": "Mae problem",
  "statement.failed": "Aeth rhywbeth o'i le. Rhowch gynnig arall arni.",
  "statement.yes": "Ydw",
  "statement.no": "Nac ydw",
  "statement.title": "Eich datganiad ysgrifenedig",
  "statement.waiting": "Pan fydd y swyddog wedi ysgrifennu'r hyn a ddywedoch, bydd yn ymddangos yma i chi ei ddarllen.",
  "statement.intro": "Darllenwch ef yn ofalus. Dylai fod yn eich geiriau eich hun. Os oes unrhyw beth yn anghywir neu ar goll, gofynnwch i'r swyddog ei newid cyn i chi lofnodi.",
  "statement.changed": "Mae'r swyddog wedi newid y datganiad. Darllenwch ef eto.",
  "statement.correctionLabel": "Beth ddylid ei newid?",
  "statement.correctionButton": "Gofyn i'r swyddog ei newid",
  "statement.correctionSent": "Anfonwyd eich cais at y swyddog. Bydd y datganiad yn cael ei ddiweddaru yma.",
  "statement.signTitle": "Llofnodwch eich datganiad",
  "statement.declarationIntro": "Drwy lofnodi, rydych yn gwneud y datganiad hwn. Mae'n golygu bod y datganiad yn wir, a'i bod yn drosedd dweud rhywbeth ynddo rydych yn gwybod sy'n anwir.",
  "statement.declarationCheck": "Rwyf wedi darllen fy natganiad ac rwy'n gwneud y datganiad hwn",
  "statement.nameLabel": "Eich enw llawn",
  "statement.over18Legend": "Ydych chi'n 18 oed neu'n hŷn?",
  "statement.ageLabel": "Eich oedran",
  "statement.signatureLabel": "Llofnodwch yma gyda'ch bys",
  "statement.signatureHint": "Tynnwch eich llofnod yn y blwch.",
  "statement.clear": "Clirio fy llofnod",
  "statement.signButton": "Llofnodi fy natganiad",
  "statement.signed": "Gwnaethoch lofnodi'r datganiad hwn am {time}. Diolch.",
  "statement.errorDeclaration": "Ticiwch y blwch i wneud y datganiad",
  "statement.errorName": "Rhowch eich enw llawn",
  "statement.errorAge": "Rhowch eich oedran",
  "statement.errorSignature": "Tynnwch eich llofnod yn y blwch",
  "statement.errorChanged": "Newidiodd y datganiad tra oeddech yn ei ddarllen. Darllenwch ef eto cyn llofnodi.",
  "upload.title": "Anfon lluniau neu fideos",
  "upload.hint": "Gallwch anfon lluniau neu fideos byr am yr hyn a ddigwyddodd, er enghraifft o ddifrod neu anaf. Lluniau: JPEG, PNG neu HEIC. Fideos: MP4, MOV neu WebM. Hyd at {mb} MB yr un.",
  "upload.fileLabel": "Dewiswch lun neu fideo",
  "upload.send": "Anfon at y swyddog",
  "upload.sending": "Wrthi'n anfon…",
  "upload.sent": "Anfonwyd: {name}",
  "upload.listTitle": "Yr hyn rydych wedi'i anfon",
  "upload.fingerprint": "Ôl bys (SHA-256): {hash}",
  "upload.noFile": "Dewiswch ffeil yn gyntaf",
  "upload.tooLarge": "Mae'r ffeil hon yn rhy fawr. Anfonwch ffeil hyd at {mb} MB.",
  "upload.wrongType": "Nid oes modd anfon y math hwn o ffeil. Anfonwch lun (JPEG, PNG neu HEIC) neu fideo (MP4, MOV neu WebM).",
  "upload.incomplete": "Mae'n ymddangos bod y ffeil hon wedi'i difrodi neu'n anghyflawn. Ceisiwch ei chadw eto, yna ei hanfon.",
  "upload.empty": "Mae'r ffeil hon yn wag.",
  "upload.failed": "Nid oedd modd anfon y ffeil. Gwiriwch eich cysylltiad a rhowch gynnig arall arni.",
  "upload.expired": "Mae'r dudalen hon wedi dod i ben. Gofynnwch i'r swyddog am ddolen newydd.",
  "stills.taken": "Tynnodd y swyddog lun o'r fideo am {time}.",
};

const pl: Record<ExhibitKey, string> = {
  "statement.problem": "Wystąpił problem",
  "statement.failed": "Coś poszło nie tak. Spróbuj ponownie.",
  "statement.yes": "Tak",
  "statement.no": "Nie",
  "statement.title": "Twoje pisemne zeznanie",
  "statement.waiting": "Gdy funkcjonariusz zapisze to, co powiedziałeś/powiedziałaś, pojawi się to tutaj do przeczytania.",
  "statement.intro": "Przeczytaj je uważnie. Powinno być napisane Twoimi słowami. Jeśli coś jest nieprawidłowe lub czegoś brakuje, poproś funkcjonariusza o zmianę przed podpisaniem.",
  "statement.changed": "Funkcjonariusz zmienił zeznanie. Przeczytaj je ponownie.",
  "statement.correctionLabel": "Co należy zmienić?",
  "statement.correctionButton": "Poproś funkcjonariusza o zmianę",
  "statement.correctionSent": "Twoja prośba została wysłana do funkcjonariusza. Zeznanie zostanie tutaj zaktualizowane.",
  "statement.signTitle": "Podpisz swoje zeznanie",
  "statement.declarationIntro": "Podpisując, składasz to oświadczenie. Oznacza ono, że zeznanie jest prawdziwe i że podanie w nim czegoś, o czym wiesz, że jest nieprawdą, jest przestępstwem.",
  "statement.declarationCheck": "Przeczytałem/przeczytałam swoje zeznanie i składam to oświadczenie",
  "statement.nameLabel": "Imię i nazwisko",
  "statement.over18Legend": "Czy masz ukończone 18 lat?",
  "statement.ageLabel": "Twój wiek",
  "statement.signatureLabel": "Podpisz się tutaj palcem",
  "statement.signatureHint": "Narysuj swój podpis w ramce.",
  "statement.clear": "Wyczyść mój podpis",
  "statement.signButton": "Podpisz moje zeznanie",
  "statement.signed": "Podpisano to zeznanie o {time}. Dziękujemy.",
  "statement.errorDeclaration": "Zaznacz pole, aby złożyć oświadczenie",
  "statement.errorName": "Wpisz swoje imię i nazwisko",
  "statement.errorAge": "Wpisz swój wiek",
  "statement.errorSignature": "Narysuj swój podpis w ramce",
  "statement.errorChanged": "Zeznanie zmieniło się w trakcie czytania. Przeczytaj je ponownie przed podpisaniem.",
  "upload.title": "Wyślij zdjęcia lub filmy",
  "upload.hint": "Możesz wysłać zdjęcia lub krótkie filmy dotyczące zdarzenia, na przykład zniszczeń lub obrażeń. Zdjęcia: JPEG, PNG lub HEIC. Filmy: MP4, MOV lub WebM. Do {mb} MB każdy.",
  "upload.fileLabel": "Wybierz zdjęcie lub film",
  "upload.send": "Wyślij do funkcjonariusza",
  "upload.sending": "Wysyłanie…",
  "upload.sent": "Wysłano: {name}",
  "upload.listTitle": "Co zostało wysłane",
  "upload.fingerprint": "Odcisk (SHA-256): {hash}",
  "upload.noFile": "Najpierw wybierz plik",
  "upload.tooLarge": "Ten plik jest za duży. Wyślij plik do {mb} MB.",
  "upload.wrongType": "Nie można wysłać tego rodzaju pliku. Wyślij zdjęcie (JPEG, PNG lub HEIC) albo film (MP4, MOV lub WebM).",
  "upload.incomplete": "Ten plik wydaje się uszkodzony lub niekompletny. Zapisz go ponownie i wyślij.",
  "upload.empty": "Ten plik jest pusty.",
  "upload.failed": "Nie udało się wysłać pliku. Sprawdź połączenie i spróbuj ponownie.",
  "upload.expired": "Ta strona wygasła. Poproś funkcjonariusza o nowy link.",
  "stills.taken": "Funkcjonariusz zrobił zdjęcie z wideo o {time}.",
};

const ro: Record<ExhibitKey, string> = {
  "statement.problem": "Există o problemă",
  "statement.failed": "Ceva nu a funcționat. Vă rugăm să încercați din nou.",
  "statement.yes": "Da",
  "statement.no": "Nu",
  "statement.title": "Declarația dumneavoastră scrisă",
  "statement.waiting": "Când ofițerul va fi scris ce ați spus, textul va apărea aici ca să îl citiți.",
  "statement.intro": "Vă rugăm să o citiți cu atenție. Ar trebui să fie în propriile dumneavoastră cuvinte. Dacă ceva este greșit sau lipsește, cereți ofițerului să schimbe înainte să semnați.",
  "statement.changed": "Ofițerul a modificat declarația. Vă rugăm să o citiți din nou.",
  "statement.correctionLabel": "Ce ar trebui schimbat?",
  "statement.correctionButton": "Cereți ofițerului să o schimbe",
  "statement.correctionSent": "Cererea dumneavoastră a fost trimisă ofițerului. Declarația va fi actualizată aici.",
  "statement.signTitle": "Semnați declarația",
  "statement.declarationIntro": "Prin semnare, faceți această declarație. Înseamnă că declarația este adevărată și că este infracțiune să spuneți în ea ceva ce știți că este fals.",
  "statement.declarationCheck": "Am citit declarația mea și fac această declarație",
  "statement.nameLabel": "Numele dumneavoastră complet",
  "statement.over18Legend": "Aveți 18 ani sau mai mult?",
  "statement.ageLabel": "Vârsta dumneavoastră",
  "statement.signatureLabel": "Semnați aici cu degetul",
  "statement.signatureHint": "Desenați semnătura în casetă.",
  "statement.clear": "Ștergeți semnătura",
  "statement.signButton": "Semnez declarația",
  "statement.signed": "Ați semnat această declarație la {time}. Vă mulțumim.",
  "statement.errorDeclaration": "Bifați caseta pentru a face declarația",
  "statement.errorName": "Introduceți numele complet",
  "statement.errorAge": "Introduceți vârsta",
  "statement.errorSignature": "Desenați semnătura în casetă",
  "statement.errorChanged": "Declarația s-a schimbat în timp ce o citeați. Vă rugăm să o citiți din nou înainte de a semna.",
  "upload.title": "Trimiteți fotografii sau videoclipuri",
  "upload.hint": "Puteți trimite fotografii sau videoclipuri scurte despre ce s-a întâmplat, de exemplu cu pagube sau răni. Fotografii: JPEG, PNG sau HEIC. Videoclipuri: MP4, MOV sau WebM. Până la {mb} MB fiecare.",
  "upload.fileLabel": "Alegeți o fotografie sau un videoclip",
  "upload.send": "Trimiteți ofițerului",
  "upload.sending": "Se trimite…",
  "upload.sent": "Trimis: {name}",
  "upload.listTitle": "Ce ați trimis",
  "upload.fingerprint": "Amprentă (SHA-256): {hash}",
  "upload.noFile": "Alegeți mai întâi un fișier",
  "upload.tooLarge": "Acest fișier este prea mare. Trimiteți un fișier de până la {mb} MB.",
  "upload.wrongType": "Acest tip de fișier nu poate fi trimis. Trimiteți o fotografie (JPEG, PNG sau HEIC) sau un videoclip (MP4, MOV sau WebM).",
  "upload.incomplete": "Acest fișier pare deteriorat sau incomplet. Salvați-l din nou, apoi trimiteți-l.",
  "upload.empty": "Acest fișier este gol.",
  "upload.failed": "Fișierul nu a putut fi trimis. Verificați conexiunea și încercați din nou.",
  "upload.expired": "Această pagină a expirat. Cereți ofițerului un link nou.",
  "stills.taken": "Ofițerul a făcut o fotografie din videoclip la {time}.",
};

const ur: Record<ExhibitKey, string> = {
  "statement.problem": "ایک مسئلہ ہے",
  "statement.failed": "کچھ غلط ہو گیا۔ براہ کرم دوبارہ کوشش کریں۔",
  "statement.yes": "ہاں",
  "statement.no": "نہیں",
  "statement.title": "آپ کا تحریری بیان",
  "statement.waiting": "جب افسر آپ کی کہی ہوئی بات لکھ لے گا تو وہ یہاں آپ کے پڑھنے کے لیے ظاہر ہو گی۔",
  "statement.intro": "براہ کرم اسے غور سے پڑھیں۔ یہ آپ کے اپنے الفاظ میں ہونا چاہیے۔ اگر کچھ غلط ہے یا رہ گیا ہے تو دستخط سے پہلے افسر سے اسے بدلنے کو کہیں۔",
  "statement.changed": "افسر نے بیان میں تبدیلی کی ہے۔ براہ کرم اسے دوبارہ پڑھیں۔",
  "statement.correctionLabel": "کیا بدلنا چاہیے؟",
  "statement.correctionButton": "افسر سے اسے بدلنے کو کہیں",
  "statement.correctionSent": "آپ کی درخواست افسر کو بھیج دی گئی ہے۔ بیان یہاں اپ ڈیٹ ہو جائے گا۔",
  "statement.signTitle": "اپنے بیان پر دستخط کریں",
  "statement.declarationIntro": "دستخط کر کے آپ یہ اقرار کرتے ہیں۔ اس کا مطلب ہے کہ بیان سچ ہے، اور اس میں جان بوجھ کر غلط بات کہنا جرم ہے۔",
  "statement.declarationCheck": "میں نے اپنا بیان پڑھ لیا ہے اور میں یہ اقرار کرتا/کرتی ہوں",
  "statement.nameLabel": "آپ کا پورا نام",
  "statement.over18Legend": "کیا آپ کی عمر 18 سال یا اس سے زیادہ ہے؟",
  "statement.ageLabel": "آپ کی عمر",
  "statement.signatureLabel": "یہاں انگلی سے دستخط کریں",
  "statement.signatureHint": "خانے میں اپنے دستخط بنائیں۔",
  "statement.clear": "میرے دستخط مٹائیں",
  "statement.signButton": "میرے بیان پر دستخط کریں",
  "statement.signed": "آپ نے اس بیان پر {time} پر دستخط کیے۔ شکریہ۔",
  "statement.errorDeclaration": "اقرار کرنے کے لیے خانے پر نشان لگائیں",
  "statement.errorName": "اپنا پورا نام لکھیں",
  "statement.errorAge": "اپنی عمر لکھیں",
  "statement.errorSignature": "خانے میں اپنے دستخط بنائیں",
  "statement.errorChanged": "آپ کے پڑھنے کے دوران بیان بدل گیا۔ دستخط سے پہلے براہ کرم اسے دوبارہ پڑھیں۔",
  "upload.title": "تصاویر یا ویڈیوز بھیجیں",
  "upload.hint": "آپ جو ہوا اس کی تصاویر یا مختصر ویڈیوز بھیج سکتے ہیں، مثلاً نقصان یا چوٹ کی۔ تصاویر: JPEG، PNG یا HEIC۔ ویڈیوز: MP4، MOV یا WebM۔ ہر ایک زیادہ سے زیادہ {mb} MB۔",
  "upload.fileLabel": "تصویر یا ویڈیو منتخب کریں",
  "upload.send": "افسر کو بھیجیں",
  "upload.sending": "بھیجا جا رہا ہے…",
  "upload.sent": "بھیج دیا گیا: {name}",
  "upload.listTitle": "آپ نے کیا بھیجا ہے",
  "upload.fingerprint": "فنگر پرنٹ (SHA-256): {hash}",
  "upload.noFile": "پہلے فائل منتخب کریں",
  "upload.tooLarge": "یہ فائل بہت بڑی ہے۔ {mb} MB تک کی فائل بھیجیں۔",
  "upload.wrongType": "اس قسم کی فائل نہیں بھیجی جا سکتی۔ تصویر (JPEG، PNG یا HEIC) یا ویڈیو (MP4، MOV یا WebM) بھیجیں۔",
  "upload.incomplete": "یہ فائل خراب یا نامکمل لگتی ہے۔ اسے دوبارہ محفوظ کریں، پھر بھیجیں۔",
  "upload.empty": "یہ فائل خالی ہے۔",
  "upload.failed": "فائل نہیں بھیجی جا سکی۔ اپنا کنکشن چیک کریں اور دوبارہ کوشش کریں۔",
  "upload.expired": "اس صفحے کی میعاد ختم ہو گئی ہے۔ افسر سے نیا لنک مانگیں۔",
  "stills.taken": "افسر نے {time} پر ویڈیو سے ایک تصویر لی۔",
};

const TABLE: Record<string, Record<ExhibitKey, string>> = { en, cy, pl, ro, ur };

/** The text for `key` in the page's language, with {placeholders} filled in. */
export function tx(key: ExhibitKey, values: Record<string, string | number> = {}): string {
  const lang = (document.documentElement.lang || "en").toLowerCase().split("-")[0];
  const text = (TABLE[lang] ?? en)[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? ""));
}

/** A time of day as the reader's language writes it. */
export function clock(iso: string): string {
  const lang = document.documentElement.lang || "en-GB";
  return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
}

/** A button that runs `work`, shows it is busy, and puts its failure beside it in the
 *  reader's language: an Error's own message (already translated here), else a general one. */
export function workButton(
  label: string,
  work: () => Promise<void>,
  variant: "primary" | "secondary" = "primary",
): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `button button--${variant}`;
  b.textContent = label;
  b.addEventListener("click", () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    b.parentElement?.parentElement?.querySelector(":scope > .notice--error")?.remove();
    work()
      .catch((err: unknown) => {
        const box = document.createElement("div");
        box.className = "notice notice--error";
        box.setAttribute("role", "alert");
        box.textContent = err instanceof Error && !("status" in err) ? err.message : tx("statement.failed");
        b.parentElement?.before(box);
      })
      .finally(() => {
        b.disabled = false;
        b.removeAttribute("aria-busy");
      });
  });
  return b;
}

/** GOV.UK's error summary: focused, each message a link to its field. */
export function problemSummary(errors: { field: string; message: string }[]): HTMLElement {
  const list = document.createElement("ul");
  for (const e of errors) {
    const link = document.createElement("a");
    link.href = `#${e.field}`;
    link.textContent = e.message;
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      document.getElementById(e.field)?.focus();
    });
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  const title = document.createElement("h2");
  title.id = "statement-problem-title";
  title.textContent = tx("statement.problem");
  const box = document.createElement("div");
  box.className = "error-summary";
  box.setAttribute("role", "alert");
  box.tabIndex = -1;
  box.setAttribute("aria-labelledby", title.id);
  box.append(title, list);
  return box;
}
