// Strings in Arabic (right to left) and English, and the switch between them.
// The language sets <html lang dir>; names and messages from users carry
// dir="auto" (or <bdi>) so Arabic and Latin text each run their own way.

const STRINGS = {
  en: {
    'app.name': 'Chobi Live',
    'app.loading': 'Loading…',
    'lang.other': 'العربية',
    'auth.title': 'Welcome to Chobi Live',
    'auth.subtitle': 'Watch live video and audio rooms, chat, and send gifts.',
    'auth.guest': 'Guest',
    'auth.login': 'Sign in',
    'auth.register': 'Register',
    'auth.displayName': 'Display name',
    'auth.optional': 'optional',
    'auth.username': 'Username',
    'auth.password': 'Password',
    'auth.continueGuest': 'Continue as a guest',
    'auth.signIn': 'Sign in',
    'auth.createAccount': 'Create account',
    'auth.logout': 'Sign out',
    'auth.badCredentials': 'Wrong username or password.',
    'auth.expired': 'Your sign-in has expired. Please sign in again.',
    'field.username': 'Username',
    'field.password': 'Password',
    'field.displayName': 'Display name',
    'field.title': 'Title',
    'field.category': 'Category',
    'field.message': 'Message',
    'lobby.title': 'Live now',
    'lobby.all': 'All',
    'lobby.video': 'Video',
    'lobby.audio': 'Audio',
    'lobby.empty': 'No one is live right now. Be the first!',
    'lobby.joinPrivate': 'Join a private session',
    'lobby.sessionOrLink': 'Invite link or session id',
    'lobby.inviteCode': 'Invite code',
    'lobby.join': 'Join',
    'golive.title': 'Go live',
    'golive.titleLabel': 'Title',
    'golive.titlePlaceholder': 'What is your live about?',
    'golive.category': 'Category',
    'golive.type': 'Type',
    'golive.private': 'Private (invite only)',
    'golive.submit': 'Go live',
    'golive.starting': 'Starting the camera…',
    'golive.needTitle': 'Give your live session a title.',
    'cat.chat': 'Chat',
    'cat.music': 'Music',
    'cat.gaming': 'Gaming',
    'cat.education': 'Education',
    'cat.sports': 'Sports',
    'cat.other': 'Other',
    'type.video': 'Video',
    'type.audio': 'Audio',
    'viewers.one': '{n} viewer',
    'viewers.other': '{n} viewers',
    'session.live': 'LIVE',
    'session.leave': 'Leave',
    'session.end': 'End live',
    'session.endConfirm': 'Tap again to end',
    'session.confirmLeaveHost': 'Leaving ends your live session for everyone. Leave?',
    'session.cannotJoin': "You can't join this session",
    'session.forbiddenJoin': 'It is private (you need a valid invite link), or you were removed from it.',
    'session.quality': 'Quality',
    'session.stats': 'Stats',
    'session.youAre': 'You:',
    'quality.auto': 'Auto',
    'quality.low': 'Low',
    'quality.medium': 'Medium',
    'quality.high': 'High',
    'role.host': 'Host',
    'role.co-host': 'Co-host',
    'role.viewer': 'Viewer',
    'role.pending': 'Waiting for the host',
    'tab.chat': 'Chat',
    'tab.gifts': 'Gifts',
    'tab.people': 'People',
    'chat.placeholder': 'Say something…',
    'chat.send': 'Send',
    'chat.tooLong': 'Messages are at most 500 characters.',
    'gifts.balance': 'Balance',
    'gifts.to': 'To',
    'gifts.loading': 'Loading gifts…',
    'gifts.unavailable': 'Gifts are not available on this server yet.',
    'gifts.noRecipient': 'There is no one on stage to send a gift to.',
    'gifts.notEnough': 'Not enough coins for this gift.',
    'gifts.notEnoughDev': 'Not enough coins for this gift: top up first.',
    'gifts.sent': 'You sent {gift}',
    'gifts.animation': '{name} sent {gift}',
    'wallet.topUp': 'Top up +100 (dev)',
    'wallet.toppedUp': '{n} coins added',
    'wallet.unavailable': 'Top-up is not available on this server yet.',
    'giftName.rose': 'Rose',
    'giftName.heart': 'Heart',
    'giftName.star': 'Star',
    'giftName.crown': 'Crown',
    'giftName.diamond': 'Diamond',
    'giftName.rocket': 'Rocket',
    'cohost.ask': 'Ask to join the stage',
    'cohost.pending': 'Request sent…',
    'cohost.requested': 'Your request was sent to the host.',
    'cohost.accepted': "You're on stage!",
    'cohost.refused': 'The host declined your request.',
    'cohost.offStage': "You're off the stage.",
    'cohost.asks': '{name} asks to join the stage',
    'cohost.accept': 'Accept',
    'cohost.refuse': 'Refuse',
    'cohost.requestsTitle': 'Requests to join the stage',
    'people.invite': 'Invite to stage',
    'people.remove': 'Remove',
    'people.ban': 'Ban',
    'people.banHint': 'Remove and keep out for the rest of this session',
    'people.you': '(you)',
    'stage.connecting': 'Connecting…',
    'stage.notPublishing': 'Getting ready…',
    'stage.empty': 'Waiting for the host…',
    'stage.unmute': 'Tap to turn the sound on',
    'media.denied': "Camera and microphone access was denied. Allow them for this site in your browser's settings, then try again.",
    'media.notFound': 'No camera or microphone was found.',
    'media.inUse': 'The camera or microphone is in use by another app.',
    'media.insecure': 'The camera needs a secure page (https or localhost).',
    'media.failed': 'The camera or microphone could not be started.',
    'media.micOff': 'Mute',
    'media.micOn': 'Unmute',
    'media.camOff': 'Camera off',
    'media.camOn': 'Camera on',
    'conn.reconnecting': 'Connection lost. Reconnecting…',
    'conn.restored': 'Reconnected.',
    'ended.title': 'This live session has ended',
    'ended.yours': 'Your live session has ended',
    'ended.notLive': 'It is not live any more.',
    'ended.back': 'Back to the lobby',
    'removed.title': 'You were removed from this session',
    'removed.reason': 'The host removed you.',
    'removed.banned': "The host removed you; you can't come back to this session.",
    'stats.duration': 'Duration',
    'stats.peakViewers': 'Peak viewers',
    'stats.totalViewers': 'Total viewers',
    'stats.messages': 'Messages',
    'stats.giftsReceived': 'Gifts received',
    'stats.coinsEarned': 'Coins earned',
    'stats.res': 'res',
    'stats.rate': 'rate',
    'stats.loss': 'loss',
    'stats.rtt': 'RTT',
    'err.network': 'Network problem: check your connection and try again.',
    'err.rateLimited': 'Slow down a little and try again in a few seconds.',
    'err.unauthorized': 'Please sign in again.',
    'err.forbidden': 'Not allowed',
    'err.server': 'Something went wrong on the server. Try again.',
    'err.generic': 'Something went wrong.',
    'err.publish': 'Could not start sending your camera:',
    'invite.label': 'Private session. Invite code:',
    'invite.copy': 'Copy invite link',
    'invite.copied': 'Invite link copied.',
  },
  ar: {
    'app.name': 'تشوبي لايف',
    'app.loading': 'جارٍ التحميل…',
    'lang.other': 'English',
    'auth.title': 'أهلًا بك في تشوبي لايف',
    'auth.subtitle': 'شاهد البث المباشر بالصوت والصورة، وتحدّث، وأرسل الهدايا.',
    'auth.guest': 'ضيف',
    'auth.login': 'تسجيل الدخول',
    'auth.register': 'حساب جديد',
    'auth.displayName': 'الاسم الظاهر',
    'auth.optional': 'اختياري',
    'auth.username': 'اسم المستخدم',
    'auth.password': 'كلمة المرور',
    'auth.continueGuest': 'المتابعة كضيف',
    'auth.signIn': 'دخول',
    'auth.createAccount': 'إنشاء الحساب',
    'auth.logout': 'تسجيل الخروج',
    'auth.badCredentials': 'اسم المستخدم أو كلمة المرور غير صحيحة.',
    'auth.expired': 'انتهت صلاحية تسجيل دخولك. يُرجى تسجيل الدخول من جديد.',
    'field.username': 'اسم المستخدم',
    'field.password': 'كلمة المرور',
    'field.displayName': 'الاسم الظاهر',
    'field.title': 'العنوان',
    'field.category': 'الفئة',
    'field.message': 'الرسالة',
    'lobby.title': 'مباشر الآن',
    'lobby.all': 'الكل',
    'lobby.video': 'فيديو',
    'lobby.audio': 'صوت',
    'lobby.empty': 'لا يوجد بث مباشر الآن. كن الأول!',
    'lobby.joinPrivate': 'الانضمام إلى جلسة خاصة',
    'lobby.sessionOrLink': 'رابط الدعوة أو معرّف الجلسة',
    'lobby.inviteCode': 'رمز الدعوة',
    'lobby.join': 'انضمام',
    'golive.title': 'ابدأ البث',
    'golive.titleLabel': 'العنوان',
    'golive.titlePlaceholder': 'عمّ يدور بثك؟',
    'golive.category': 'الفئة',
    'golive.type': 'النوع',
    'golive.private': 'خاص (بالدعوة فقط)',
    'golive.submit': 'ابدأ البث المباشر',
    'golive.starting': 'جارٍ تشغيل الكاميرا…',
    'golive.needTitle': 'اكتب عنوانًا للبث.',
    'cat.chat': 'دردشة',
    'cat.music': 'موسيقى',
    'cat.gaming': 'ألعاب',
    'cat.education': 'تعليم',
    'cat.sports': 'رياضة',
    'cat.other': 'أخرى',
    'type.video': 'فيديو',
    'type.audio': 'صوتي',
    'viewers.zero': 'لا مشاهدين',
    'viewers.one': 'مشاهد واحد',
    'viewers.two': 'مشاهدان',
    'viewers.few': '{n} مشاهدين',
    'viewers.many': '{n} مشاهدًا',
    'viewers.other': '{n} مشاهد',
    'session.live': 'مباشر',
    'session.leave': 'مغادرة',
    'session.end': 'إنهاء البث',
    'session.endConfirm': 'اضغط مجددًا للإنهاء',
    'session.confirmLeaveHost': 'مغادرتك تُنهي البث للجميع. هل تريد المغادرة؟',
    'session.cannotJoin': 'لا يمكنك الانضمام إلى هذه الجلسة',
    'session.forbiddenJoin': 'إنها جلسة خاصة (تحتاج إلى رابط دعوة صالح)، أو تم إخراجك منها.',
    'session.quality': 'الجودة',
    'session.stats': 'الإحصاءات',
    'session.youAre': 'أنت:',
    'quality.auto': 'تلقائية',
    'quality.low': 'منخفضة',
    'quality.medium': 'متوسطة',
    'quality.high': 'عالية',
    'role.host': 'المضيف',
    'role.co-host': 'مضيف مشارك',
    'role.viewer': 'مشاهد',
    'role.pending': 'بانتظار المضيف',
    'tab.chat': 'الدردشة',
    'tab.gifts': 'الهدايا',
    'tab.people': 'الحاضرون',
    'chat.placeholder': 'اكتب رسالة…',
    'chat.send': 'إرسال',
    'chat.tooLong': 'الحد الأقصى للرسالة ٥٠٠ حرف.',
    'gifts.balance': 'الرصيد',
    'gifts.to': 'إلى',
    'gifts.loading': 'جارٍ تحميل الهدايا…',
    'gifts.unavailable': 'الهدايا غير متاحة على هذا الخادم بعد.',
    'gifts.noRecipient': 'لا يوجد أحد على المسرح لإرسال هدية إليه.',
    'gifts.notEnough': 'رصيدك من العملات لا يكفي لهذه الهدية.',
    'gifts.notEnoughDev': 'رصيدك لا يكفي لهذه الهدية: اشحن رصيدك أولًا.',
    'gifts.sent': 'أرسلتَ {gift}',
    'gifts.animation': '{gift} من {name}',
    'wallet.topUp': 'شحن +١٠٠ (للتطوير)',
    'wallet.toppedUp': 'أُضيفت {n} عملة',
    'wallet.unavailable': 'شحن الرصيد غير متاح على هذا الخادم بعد.',
    'giftName.rose': 'وردة',
    'giftName.heart': 'قلب',
    'giftName.star': 'نجمة',
    'giftName.crown': 'تاج',
    'giftName.diamond': 'ماسة',
    'giftName.rocket': 'صاروخ',
    'cohost.ask': 'اطلب الصعود إلى المسرح',
    'cohost.pending': 'أُرسل الطلب…',
    'cohost.requested': 'أُرسل طلبك إلى المضيف.',
    'cohost.accepted': 'أنت الآن على المسرح!',
    'cohost.refused': 'رفض المضيف طلبك.',
    'cohost.offStage': 'لم تعد على المسرح.',
    'cohost.asks': 'طلب صعود إلى المسرح من {name}',
    'cohost.accept': 'قبول',
    'cohost.refuse': 'رفض',
    'cohost.requestsTitle': 'طلبات الصعود إلى المسرح',
    'people.invite': 'دعوة إلى المسرح',
    'people.remove': 'إخراج',
    'people.ban': 'حظر',
    'people.banHint': 'إخراج ومنع العودة حتى نهاية الجلسة',
    'people.you': '(أنت)',
    'stage.connecting': 'جارٍ الاتصال…',
    'stage.notPublishing': 'يستعد…',
    'stage.empty': 'بانتظار المضيف…',
    'stage.unmute': 'اضغط لتشغيل الصوت',
    'media.denied': 'تم رفض الوصول إلى الكاميرا والميكروفون. اسمح بهما لهذا الموقع من إعدادات المتصفح، ثم حاول مجددًا.',
    'media.notFound': 'لم يُعثر على كاميرا أو ميكروفون.',
    'media.inUse': 'الكاميرا أو الميكروفون قيد الاستخدام في تطبيق آخر.',
    'media.insecure': 'تحتاج الكاميرا إلى صفحة آمنة (https أو localhost).',
    'media.failed': 'تعذّر تشغيل الكاميرا أو الميكروفون.',
    'media.micOff': 'كتم الصوت',
    'media.micOn': 'إلغاء الكتم',
    'media.camOff': 'إيقاف الكاميرا',
    'media.camOn': 'تشغيل الكاميرا',
    'conn.reconnecting': 'انقطع الاتصال. جارٍ إعادة الاتصال…',
    'conn.restored': 'عاد الاتصال.',
    'ended.title': 'انتهى هذا البث المباشر',
    'ended.yours': 'انتهى بثك المباشر',
    'ended.notLive': 'لم يعد هذا البث مباشرًا.',
    'ended.back': 'العودة إلى الصفحة الرئيسية',
    'removed.title': 'تم إخراجك من هذه الجلسة',
    'removed.reason': 'أخرجك المضيف.',
    'removed.banned': 'أخرجك المضيف، ولا يمكنك العودة إلى هذه الجلسة.',
    'stats.duration': 'المدة',
    'stats.peakViewers': 'ذروة المشاهدين',
    'stats.totalViewers': 'إجمالي المشاهدين',
    'stats.messages': 'الرسائل',
    'stats.giftsReceived': 'الهدايا المستلمة',
    'stats.coinsEarned': 'العملات المكتسبة',
    'stats.res': 'الدقة',
    'stats.rate': 'المعدل',
    'stats.loss': 'الفقد',
    'stats.rtt': 'زمن الرحلة',
    'err.network': 'مشكلة في الشبكة: تحقق من اتصالك وحاول مجددًا.',
    'err.rateLimited': 'تمهّل قليلًا وحاول بعد بضع ثوانٍ.',
    'err.unauthorized': 'يُرجى تسجيل الدخول من جديد.',
    'err.forbidden': 'غير مسموح',
    'err.server': 'حدث خطأ في الخادم. حاول مجددًا.',
    'err.generic': 'حدث خطأ ما.',
    'err.publish': 'تعذّر بدء إرسال الكاميرا:',
    'invite.label': 'جلسة خاصة. رمز الدعوة:',
    'invite.copy': 'نسخ رابط الدعوة',
    'invite.copied': 'نُسخ رابط الدعوة.',
  },
};

const STORE_KEY = 'chobi.lang';
let lang = 'en';
const listeners = [];

export function getLang() { return lang; }

// The saved choice, else the browser's language (Arabic for any ar-*), else English.
export function initLang() {
  let saved = null;
  try { saved = localStorage.getItem(STORE_KEY); } catch { /* no storage */ }
  const wanted = saved || (navigator.languages || [navigator.language]).find((l) => /^(ar|en)\b/i.test(l || '')) || 'en';
  setLang(/^ar/i.test(wanted) ? 'ar' : 'en', { save: false, notify: false });
}

export function setLang(l, { save = true, notify = true } = {}) {
  lang = STRINGS[l] ? l : 'en';
  const root = document.documentElement;
  root.lang = lang;
  root.dir = lang === 'ar' ? 'rtl' : 'ltr';
  if (save) {
    try { localStorage.setItem(STORE_KEY, lang); } catch { /* no storage */ }
  }
  applyI18n(document);
  if (notify) for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.push(fn); }

// t('key', {n: 3}) → the string with {n} replaced; fallback when the key is unknown.
export function t(key, vars = {}, fallback) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? fallback ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

// Like t, but vars may be DOM nodes (a <bdi> around a user's name): returns
// a fragment, so user text stays text.
export function tn(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of s.matchAll(/\{(\w+)\}/g)) {
    frag.append(s.slice(last, m.index));
    const v = vars[m[1]];
    frag.append(v instanceof Node ? v : String(v ?? m[0]));
    last = m.index + m[0].length;
  }
  frag.append(s.slice(last));
  return frag;
}

// Plurals by the language's rules (Arabic has six forms).
export function tp(key, n) {
  const rule = new Intl.PluralRules(lang).select(n);
  const k = STRINGS[lang][`${key}.${rule}`] !== undefined ? `${key}.${rule}` : `${key}.other`;
  return t(k, { n: fmtNum(n) });
}

export function fmtNum(n, opts) {
  return new Intl.NumberFormat(lang, opts).format(Number(n) || 0);
}

export function categoryLabel(c) {
  return STRINGS[lang][`cat.${c}`] ?? c ?? '';
}

// A gift's name in the page's language: the catalog's nameAr/nameEn, ours
// for the gifts we know ("gift_rose"), else the server's name.
export function giftName(g) {
  if (lang === 'ar' && g?.nameAr) return g.nameAr;
  if (lang === 'en' && g?.nameEn) return g.nameEn;
  const m = /^gift_([a-z]+)$/.exec(g?.id || '');
  const ours = m ? STRINGS[lang][`giftName.${m[1]}`] : null;
  if (lang !== 'en' && ours) return ours;
  return g?.name || ours || '';
}

export function applyI18n(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) {
    el.title = t(el.dataset.i18nTitle);
    el.setAttribute('aria-label', el.title);
  }
  const other = document.getElementById('lang');
  if (other) {
    other.textContent = t('lang.other');
    other.lang = lang === 'ar' ? 'en' : 'ar';
  }
  document.title = t('app.name');
}
