"""The bot's one text catalogue: every text it shows, as key -> (zh, en): cards, toasts, errors, replies."""

from __future__ import annotations

from collections.abc import Mapping

from bot.parse.model import ParseError
from scheduler.services.errors import ErrorCode
from scheduler.services.errors import message as service_message

LOCALES = ("zh", "en")

_TEXTS: dict[str, tuple[str, str]] = {
    # card headers
    "preview.title": ("日程建议：{title}", "Schedule suggestion: {title}"),
    "preview.risk": ("风险{risk}", "{risk} risk"),
    "preview.subtitle": ("{count} 个方案 · 风险{risk}", "{count} option(s) · {risk} risk"),
    "ask.title": ("需要你确认：{title}", "Quick question: {title}"),
    "notify.title": ("提醒：{title}", "Heads-up: {title}"),
    "applied.title": ("已应用：{title}", "Applied: {title}"),
    "ignored.title": ("已忽略：{title}", "Ignored: {title}"),
    "expired.title": ("已过期：{title}", "Expired: {title}"),
    "undone.title": ("已撤销：{title}", "Undone: {title}"),
    "chosen.title": ("已选择：{title}", "Chosen: {title}"),
    "apply.after_undo": (
        "这个建议应用后已撤销，没有再次修改。需要的话请重新生成建议。",
        "This suggestion was applied and then undone; nothing was changed again.",
    ),
    "chosen.body": (
        "你选了「{label}」。正在为它准备方案，稍后发给你。",
        "You picked “{label}”. The options for it are on their way.",
    ),
    "chosen.already": (
        "你已经选了「{label}」，不能再改了；它的方案会单独发给你。",
        "You already picked “{label}”; that cannot be changed. Its options come in a separate card.",
    ),
    "error.title": ("没能完成操作", "That did not work"),
    "error.title_with": ("没能完成：{title}", "That did not work: {title}"),
    # card body
    "option.heading": ("方案 {n} · {label}", "Option {n} · {label}"),
    "option.recommended": ("推荐", "Recommended"),
    "before": ("调整前", "Before"),
    "after": ("调整后", "After"),
    "apply": ("应用方案 {n}", "Apply option {n}"),
    "apply.recommended": ("应用推荐方案", "Apply recommended"),
    "ignore": ("忽略", "Ignore"),
    "got_it": ("知道了", "Got it"),
    "undo": ("撤销", "Undo"),
    "expires": ("有效期至 {at}，过期后不会改动日程。", "Valid until {at}; nothing changes after that."),
    "busy.age": (
        "按 {age}前读取的飞书日历忙闲安排；应用前会重新核对。",
        "Planned on your Feishu calendar as read {age} ago; it is checked again before anything is applied.",
    ),
    "age.minutes": ("{n} 分钟", "{n} min"),
    "age.hours": ("{h} 小时", "{h} h"),
    "age.hours_minutes": ("{h} 小时 {n} 分钟", "{h} h {n} min"),
    "notify.nothing_changes": (
        "这条提醒不会改动你的日程。",
        "This heads-up changes nothing in your schedule.",
    ),
    # no option meets the deadline: late options, and move the deadline, snooze or drop the task
    "late.warning": (
        "没有方案能在截止时间 {deadline} 前完成「{title}」。下面是最早能完成的方案；"
        "也可以改截止时间、稍后再问，或放弃这个任务。",
        "No option finishes “{title}” before its deadline ({deadline}). Below are the options that finish "
        "soonest; you can also move the deadline, be asked again later, or drop the task.",
    ),
    "late.deadline_none": ("没有方案能按时完成「{title}」。", "No option finishes “{title}” in time."),
    "late.nothing": (
        "截止时间 {deadline} 前排不下「{title}」。可以改截止时间、稍后再问，或放弃这个任务。",
        "“{title}” cannot be fitted in before its deadline ({deadline}). You can move the deadline, be asked "
        "again later, or drop the task.",
    ),
    "apply.late": ("按方案 {n} 安排（晚于截止）", "Apply option {n} (late)"),
    "late.other": ("**其他做法**", "**Or instead**"),
    "pick.label": ("换个时间开始：", "Start at another time:"),
    "pick.placeholder": ("选择开始时间", "Pick a start time"),
    "deadline.pick": ("选择新的截止时间", "Pick a new deadline"),
    "deadline.label": ("改截止时间：", "Move the deadline:"),
    "snooze.hours": ("{h} 小时后再问我", "Ask me in {h} h"),
    "snooze.tomorrow": ("明天再问我", "Ask me tomorrow"),
    "drop": ("放弃这个任务", "Drop this task"),
    "drop.confirm": ("确认放弃「{title}」？", "Drop “{title}”?"),
    "drop.confirm_text": (
        "任务会标记为已取消，不再提醒；之后可以重新添加。",
        "The task is marked canceled and no longer reminded; you can add it again later.",
    ),
    "acted.title": ("已处理：{title}", "Done: {title}"),
    "acted.deadline": (
        "截止时间已改为 {at}。会按新的截止时间重新安排并提醒你。",
        "The deadline is now {at}. I will plan it again against the new deadline.",
    ),
    "acted.snooze": ("好的，{at} 再来问你。日程没有改动。", "OK, I will ask again at {at}. Nothing changed."),
    "acted.drop": (
        "已放弃「{title}」（标记为已取消），不会再提醒。日程没有改动。",
        "Dropped “{title}” (marked canceled); no more reminders. Your schedule did not change.",
    ),
    "toast.deadline_moved": ("截止时间已修改", "Deadline moved"),
    "toast.snoozed": ("稍后再问你", "I will ask again later"),
    "toast.dropped": ("任务已放弃", "Task dropped"),
    # a card that cannot be shown is said in words
    "ask.text": (
        "{question}\n回复「/unfinished 任务名 剩余分钟」告诉我是哪一项，例如：/unfinished 阅读 30",
        "{question}\nReply “/unfinished <task> <minutes left>” to say which one, e.g. /unfinished reading 30",
    ),
    "ask.text_default": ("你说的是哪一项没做完？", "Which one did you not finish?"),
    "fallback.title": ("日程建议：{title}", "Schedule suggestion: {title}"),
    "fallback.note": (
        "（卡片无法显示，日程没有改动。回复 /today 查看安排。）",
        "(The card could not be shown; nothing was changed. Reply /today to see your schedule.)",
    ),
    "applied.option": ("已按「{label}」调整日程：", "Your schedule now follows “{label}”:"),
    "applied.no_details": ("日程已更新。", "Your schedule was updated."),
    "undo.until": ("{at} 前可以撤销。", "You can undo until {at}."),
    "working.title": ("正在处理", "Working on it"),
    "working.title_with": ("正在处理：{title}", "Working on it: {title}"),
    "working.body": (
        "正在处理你的操作，完成后这张卡片会自动更新。",
        "Your choice is being applied; this card updates when it is done.",
    ),
    "ignored.body": (
        "已忽略这个建议，日程没有任何改动。",
        "Suggestion ignored; nothing in your schedule changed.",
    ),
    "expired.body": (
        "这个建议已于 {at} 过期，日程没有任何改动。",
        "This suggestion expired at {at}; nothing changed.",
    ),
    "undone.body": ("已撤销，日程恢复到应用之前的样子。", "Undone; your schedule is back to how it was."),
    "error.unknown": ("操作没有成功（{code}）。", "That did not work ({code})."),
    "error.code": ("错误代码：{code}", "Error code: {code}"),
    "risk.low": ("低", "low"),
    "risk.medium": ("中", "medium"),
    "risk.high": ("高", "high"),
    # toasts
    "toast.applied": ("已应用", "Applied"),
    "toast.ignored": ("已忽略", "Ignored"),
    "toast.undone": ("已撤销", "Undone"),
    "toast.chosen": ("收到，正在生成方案…", "Got it, preparing options…"),
    "toast.already_chosen": ("这个问题已经回答过了", "This question was already answered"),
    "toast.working": ("处理中，稍后更新卡片", "Working on it; the card will update shortly"),
    "toast.not_owner": ("这张卡片属于别人，不能替他操作", "This card belongs to someone else"),
    "toast.error": ("操作失败", "Something went wrong"),
    # candidate types
    "type.place_task": ("安排时段", "Schedule a block"),
    "type.split_task": ("拆成几段", "Split into parts"),
    "type.makeup_block": ("补做时段", "Make-up block"),
    "type.push_successors": ("顺延后续安排", "Push later blocks back"),
    "type.extend_day": ("延长今天的结束时间", "Extend today"),
    "type.rush_merge": ("赶工合并（紧急）", "Rush merge (last resort)"),
    "type.ask_user": ("需要确认", "Question"),
    "type.notify_only": ("提醒", "Heads-up"),
    # command replies
    "help": (
        "我可以帮你安排接下来 24 小时的日程。\n"
        "/today 查看接下来 24 小时\n/tasks 查看任务\n"
        "/add <标题> <分钟> [by <时间>] [!] 添加任务（! 表示重要）\n"
        "/done <任务> 标记完成（同名任务写 /done <任务> #2 选第几个）\n/undone <任务> 恢复为未完成\n"
        "/edit <任务> [分钟] [by <时间>|by none] [!|-] 修改任务，/drop <任务> 放弃这个任务\n"
        "/unfinished [任务] [分钟] 报告没做完\n"
        "/lock <任务> 锁定它的下一个时间段（助手不再移动），/unlock <任务> 解除\n"
        "/prefs [day 08:00-22:30] [quiet 23:00-07:00] [lang zh|en] 设置\n"
        "/connect 连接你的飞书日历（可选），/disconnect 断开\n"
        "也可以直接说「没做完」或「报告还差30分钟」，或用一句话写任务：「明天下午3点前交报告，大概2小时」。",
        "I help you plan the next 24 hours.\n"
        "/today the next 24 hours\n/tasks your tasks\n"
        "/add <title> <minutes> [by <time>] [!] add a task (! = important)\n"
        "/done <task> mark a task done (/done <task> #2 picks among tasks with that name)\n"
        "/undone <task> reopen a task\n/edit <task> [minutes] [by <time>|by none] [!|-] change a task, "
        "/drop <task> give it up\n"
        "/unfinished [task] [minutes] report unfinished work\n"
        "/lock <task> never move its next block (/unlock <task> undoes it)\n"
        "/prefs [day 08:00-22:30] [quiet 23:00-07:00] [lang zh|en] settings\n"
        "/connect link your own Feishu calendar (optional), /disconnect undo it\n"
        "Or just say “didn't finish the report, 30 min left”, or write a task in plain words: "
        "“finish the slides by Friday 5pm, about 90 min”.",
    ),
    "capture.form.header": ("添加任务", "Add a task"),
    "capture.form.intro": (
        "我读到的是下面这个任务，改好后点「添加」（不点就什么都不会添加）。",
        "This is the task I read; adjust it and press Add (nothing is added until you do).",
    ),
    "capture.form.title": ("标题", "Title"),
    "capture.form.estimate": ("预估时长", "Estimate"),
    "capture.form.estimate_pick": ("选择预估时长", "Pick an estimate"),
    "capture.form.deadline": ("截止时间（可不填）", "Deadline (optional)"),
    "capture.form.deadline_pick": ("选择截止时间", "Pick a deadline"),
    "capture.form.important": ("重要", "Important"),
    "capture.form.submit": ("添加", "Add"),
    # a wrong field (then ".not_added", or "taskform.not_changed" in the Edit form)
    "capture.form.bad_title": (
        "标题不能为空，也不能超过 {max} 个字",
        "The title must be 1 to {max} characters",
    ),
    "capture.form.bad_estimate": ("预估时长要在 5 到 480 分钟之间", "The estimate must be 5 to 480 minutes"),
    "capture.form.bad_deadline": ("没看懂截止时间", "The deadline could not be read"),
    "capture.form.past_deadline": ("截止时间 {due} 已经过去了", "The deadline {due} has passed"),
    "capture.form.not_added": ("；没有添加。", "; nothing was added."),
    "taskform.not_changed": ("；任务没有改动。", "; the task was not changed."),
    "taskform.edit": ("编辑", "Edit"),
    "taskform.header": ("编辑任务", "Edit a task"),
    "taskform.intro": (
        "这是任务现在的样子，改好后点「保存」（不点就什么都不会改）。",
        "This is the task as it is now; change it and press Save (nothing changes until you do).",
    ),
    "taskform.save": ("保存", "Save"),
    "taskform.synced_intro": (
        "「{title}」是从飞书任务同步来的，飞书里没有预估时长和重要程度：先按 {minutes} 分钟、不重要算了。"
        "不对的话改好点「保存」。",
        "“{title}” came from Feishu Tasks, which holds no estimate or importance: I assumed {minutes} min, "
        "not important. If that is wrong, change it and press Save.",
    ),
    "taskform.saved": ("已更新任务「{title}」：{details}。", "Updated “{title}”: {details}."),
    "taskform.gone": (
        "这个任务已经不在了（完成了、放弃了，或者不是你的），没有改动。",
        "That task is no longer open (done, dropped, or not yours); nothing was changed.",
    ),
    "capture.form.again": (
        "这张表单已经提交过了，没有重复添加。",
        "This form was already submitted; nothing was added twice.",
    ),
    "capture.form.card_follows": (
        "它重要且有截止时间：到 {at} 还没排时间的话，我会发卡片给你安排。",
        "It is important and has a deadline: if no time is planned by {at}, a card will come to plan it.",
    ),
    "capture.form.no_card": (
        "不会自动发卡片（只有重要且有截止时间的任务会）；需要时可以用 /today 查看。",
        "No card will come for it (only important tasks with a deadline get one); /today shows your day.",
    ),
    "menu.add": (
        "添加任务：直接说，比如「明天下午3点前交实验报告，大概2小时」，我会回你一条可以直接发送的 /add；"
        "或者发送 /add <标题> <分钟> [by <时间>] [!]，例如 /add 实验报告 120 by 明天 15:00 !（! 表示重要）。",
        "Add a task: say it in plain words, e.g. “finish the slides by Friday 5pm, about 90 min”, and I "
        "answer with an /add you can send as it is; or send /add <title> <minutes> [by <time>] [!], e.g. "
        "/add slides 90 by Fri 17:00 ! (! = important).",
    ),
    "help.short": (
        "没看懂。发送 /help 查看用法，或直接说「没做完」。",
        "Sorry, I did not get that. Send /help, or say “unfinished”.",
    ),
    # connecting the user's own calendar (/connect, /disconnect, the authorization pages)
    "connect.title": ("连接飞书日历", "Connect your Feishu calendar"),
    "connect.body": (
        "授权后，我可以读取你飞书日历里的日程（含标题），并把你应用的时间段写成日程。"
        "不连接也能用：我会照常读取你的忙闲时间。\n"
        "这个链接 10 分钟内有效，只能用一次，只属于你本人。随时可以发送 /disconnect 断开。",
        "Once you authorize, I can read your Feishu calendar's events (with titles) and write the blocks you "
        "apply as events. Everything works without it too: I still read your busy time.\n"
        "This link is valid for 10 minutes, works once, and is for you alone. Send /disconnect any time to "
        "undo it.",
    ),
    "connect.button": ("在飞书授权", "Authorize in Feishu"),
    "connect.text": (
        "打开这个链接授权我使用你的飞书日历（10 分钟内有效，只能用一次）：\n{url}",
        "Open this link to let me use your Feishu calendar (valid for 10 minutes, works once):\n{url}",
    ),
    "connect.disabled": (
        "管理员还没有开启日历连接（需要设置 SMARTFLOW_PUBLIC_URL 和 SMARTFLOW_SECRET_KEY），"
        "所以现在无法连接。"
        "其他功能不受影响：我会照常读取你的忙闲时间。",
        "The operator has not enabled calendar connection (it needs SMARTFLOW_PUBLIC_URL and "
        "SMARTFLOW_SECRET_KEY), so it cannot be connected now. Everything else works: I still read your "
        "busy time.",
    ),
    "connect.group": (
        "请在和我的单聊里发送 /connect：授权链接只能给你本人。",
        "Send /connect in a private chat with me: the authorization link is for you alone.",
    ),
    "connect.broken": (
        "你的飞书日历连接已失效（授权被撤销或已过期），我暂时不能读写你的日历。发送 /connect 重新连接。",
        "Your Feishu calendar connection stopped working (the authorization was revoked or expired), so I "
        "cannot use your calendar for now. Send /connect to connect it again.",
    ),
    "disconnect.done": (
        "已断开飞书日历，保存的授权已删除。",
        "Your Feishu calendar is disconnected; the stored authorization is deleted.",
    ),
    "disconnect.none": ("你还没有连接飞书日历。", "Your Feishu calendar is not connected."),
    "oauth.title": ("SmartFlow · 飞书日历", "SmartFlow · Feishu calendar"),
    "oauth.close": ("可以关闭这个页面，回到飞书。", "You can close this page and go back to Feishu."),
    "oauth.connected": (
        "已连接你的飞书日历。",
        "Your Feishu calendar is connected.",
    ),
    "oauth.missing": (
        "这个链接不完整（缺少授权码或 state）。请在和机器人的单聊里重新发送 /connect。",
        "This link is incomplete (no code or state). Send /connect again in your chat with the bot.",
    ),
    "oauth.invalid": (
        "这个授权链接无效（不是机器人发出的，或被改动过），什么都没有改变。请重新发送 /connect。",
        "This authorization link is not valid (not issued by the bot, or altered); nothing was changed. "
        "Send /connect again.",
    ),
    "oauth.expired": (
        "这个授权链接已过期（有效期 10 分钟），什么都没有改变。请重新发送 /connect。",
        "This authorization link has expired (it is valid for 10 minutes); nothing was changed. "
        "Send /connect again.",
    ),
    "oauth.used": (
        "这个授权链接已经用过了（每个链接只能用一次），什么都没有改变。需要的话请重新发送 /connect。",
        "This authorization link was already used (each works once); nothing was changed. "
        "Send /connect again if you need to.",
    ),
    "oauth.denied": (
        "你没有同意授权，日历没有连接。",
        "You did not authorize, so your calendar is not connected.",
    ),
    "oauth.wrong_account": (
        "授权的飞书账号不是发送 /connect 的账号，授权已丢弃，日历没有连接。"
        "请用发送 /connect 的账号重新授权。",
        "The Feishu account that authorized is not the one that sent /connect; the authorization was "
        "discarded and nothing is connected. Authorize with the account that sent /connect.",
    ),
    "oauth.failed": (
        "飞书没有接受这次授权（或暂时无法访问），日历没有连接。请稍后重新发送 /connect。",
        "Feishu did not accept this authorization (or could not be reached); nothing is connected. "
        "Send /connect again later.",
    ),
    "not_allowed": ("你没有权限使用这个命令。", "You are not allowed to use this command."),
    "welcome.title": ("欢迎使用 SmartFlow", "Welcome to SmartFlow"),
    "welcome.tz": ("时区：", "Time zone:"),
    "welcome.day": ("每天的时间：", "Your day:"),
    "welcome.changed": ("已改好：{setting}", "Changed: {setting}"),
    "welcome.connect": (
        "也可以发送 /connect 授权我使用你自己的飞书日历，随时可以 /disconnect 取消。",
        "You can also send /connect to let me use your own Feishu calendar; /disconnect undoes it any time.",
    ),
    "welcome": (
        "你好！我是 SmartFlow：当一个重要任务快到期还没排时间，或你说某段没做完，我会给出 1–3 个调整方案，"
        "你点「应用」才会改日程。\n"
        "我先按这些设置帮你安排：时区 {tz}，每天 {day}，每天最多 {cap} 张主动提醒卡片。"
        "可以随时修改，例如 /prefs tz Asia/Shanghai、/prefs day 08:00-22:30、/prefs quiet 23:00-07:00。\n"
        "发送 /help 查看全部用法。",
        "Hi! I am SmartFlow: when an important task is due soon with no time planned, or you tell me a block "
        "was left unfinished, I suggest 1–3 changes, and nothing changes until you press Apply.\n"
        "I assumed these settings: time zone {tz}, your day {day}, at most {cap} proactive cards a day. "
        "Change them any time, e.g. /prefs tz Europe/Berlin, /prefs day 08:00-22:30, "
        "/prefs quiet 23:00-07:00.\n"
        "Send /help for everything I understand.",
    ),
    "task.duplicate": (
        "你已经有一个未完成的「{title}」（{details}），这次没有重复添加。"
        "确实要再加一个同名任务，发送：\n{again}",
        "You already have an open “{title}” ({details}), so nothing was added twice. "
        "To add another one anyway, send:\n{again}",
    ),
    "task.edited": ("已更新：{details}", "Updated: {details}"),
    "task.edit_deadline_past": (
        "截止时间 {due} 已经过去了，任务没有修改。请给一个将来的时间，例如 by 明天18:00。",
        "The deadline {due} has already passed; the task was not changed. "
        "Give a time ahead, e.g. by tomorrow 18:00.",
    ),
    "task.dropped": (
        "已放弃「{title}」，它的提醒也取消了。发送 /undone {title} 可以恢复。",
        "Dropped “{title}”; its reminders are canceled too. Send /undone {title} to bring it back.",
    ),
    "capture.read": (
        "我读到的任务是这样的；没问题就发送这一行来添加（可以先改）：\n{command}",
        "Here is the task as I read it; send this line to add it (edit it first if needed):\n{command}",
    ),
    "capture.how_long": (
        "「{title}」大概需要多少分钟？例如回复：/add {title} 60",
        "About how many minutes will “{title}” take? For example reply: /add {title} 60",
    ),
    "capture.estimate_range": (
        "「{title}」的时长 {minutes} 分钟不在 5–480 分钟之内；请拆成几项，或用 /add 写一个合适的时长。",
        "{minutes} minutes for “{title}” is outside 5–480; split it up, or /add it with a fitting estimate.",
    ),
    "capture.past": (
        "「{title}」的截止时间 {due} 已经过去了；请用 /add 写一个将来的时间。",
        "The deadline {due} for “{title}” has already passed; send /add with a time ahead.",
    ),
    "parse_error": ("没看懂：{problem}", "I could not read that: {problem}"),
    "task.added": ("已添加任务「{title}」（{minutes} 分钟）。", "Added “{title}” ({minutes} min)."),
    "task.added_due": (
        "已添加任务「{title}」（{minutes} 分钟），截止 {due}。",
        "Added “{title}” ({minutes} min), due {due}.",
    ),
    "task.done": ("已完成「{title}」。", "Marked “{title}” done."),
    # /lock and /unlock
    "lock.done": (
        "已锁定「{title}」{when}：助手不会再移动它。发送 /unlock {title} 解除。",
        "Locked “{title}” {when}: the assistant will not move it. /unlock {title} lets it move again.",
    ),
    "lock.already": ("「{title}」{when} 已经锁定了。", "“{title}” {when} was already locked."),
    "unlock.done": ("已解除锁定「{title}」{when}。", "Unlocked “{title}” {when}."),
    "unlock.already": ("「{title}」{when} 没有锁定。", "“{title}” {when} was not locked."),
    "lock.no_block": (
        "「{title}」之后没有安排的时间段，没有可以锁定的。",
        "“{title}” has no block ahead to lock.",
    ),
    "task.not_found": ("没找到任务「{ref}」。", "No task matches “{ref}”."),
    # /done and /undone: picking one of several tasks, reopening, deadlines in the past
    "task.undo_hint": ("发错了可以发送 {command} 恢复。", " Sent by mistake? {command} reopens it."),
    "task.reopened": ("已把「{title}」恢复为未完成。", "“{title}” is open again."),
    "task.not_found_done": ("没找到已完成的任务「{ref}」。", "No completed task matches “{ref}”."),
    "task.pick": ("有 {count} 个任务匹配「{ref}」，请选一个：", "{count} tasks match “{ref}”; pick one:"),
    "task.pick_more": ("…还有 {more} 个，可以写得更具体些", "…and {more} more; be more specific"),
    "task.pick_how": (
        "发送 {example} 选第 1 个，#2 选第 2 个，以此类推。",
        "Send {example} for #1, #2 for #2, etc.",
    ),
    "task.pick_range": (
        "「{ref}」只匹配 {count} 个任务，没有第 {n} 个。",
        "Only {count} task(s) match “{ref}”; there is no #{n}.",
    ),
    "task.ref_too_short": (
        "「{ref}」太短，可能指好几个任务。请写出更完整的任务名（中文至少两个字）。",
        "“{ref}” is too short to name a task; write a whole word of its title, or all of it.",
    ),
    "task.added_at": ("添加于 {at}", "added {at}"),
    "task.deadline_past": (
        "截止时间 {due} 已经过去了，任务没有添加。请给一个将来的时间，例如 by 明天18:00。",
        "The deadline {due} has already passed; the task was not added. "
        "Give a time ahead, e.g. by tomorrow 18:00.",
    ),
    "tasks.overdue": ("已逾期", "overdue"),
    "tasks.empty": ("目前没有未完成的任务。", "You have no open tasks."),
    "today.empty": ("接下来 24 小时没有安排。", "Nothing planned for the next 24 hours."),
    "feedback.received": ("收到，正在为你重新安排…", "Got it, working out a new plan…"),
    "feedback.nothing": ("没找到刚结束或正在进行的安排。", "I found no block that just ended or is running."),
    "feedback.not_started": (
        "「{title}」安排在{when}，还没开始，现在没有需要补做的。",
        "“{title}” is planned for {when}; it has not started, so there is nothing to make up yet.",
    ),
    "feedback.no_block": (
        "「{title}」还没有安排时间段，没有可以补做的。",
        "“{title}” has no planned block, so there is nothing to make up.",
    ),
    "feedback.task_done": (
        "「{title}」已经标记为完成。如果其实还没做完，先发送 {command} 恢复它，再说没做完。",
        "“{title}” is marked done. If it is not finished after all, send {command} to reopen it, "
        "then report it.",
    ),
    "feedback.no_task": (
        "没找到任务「{ref}」，也没有刚结束或正在进行的安排。",
        "No task matches “{ref}”, and no block just ended or is running.",
    ),
    "feedback.no_task_recent": (
        "没找到任务「{ref}」。最近的安排是「{title}」（{when}）；如果是它没做完，请回复「{example}」。",
        "No task matches “{ref}”. Your latest block is “{title}” ({when}); "
        "if that is the one, reply “{example}”.",
    ),
    "feedback.example": ("刚才那个没做完", "unfinished"),
    "feedback.example_minutes": ("刚才那个没做完，还差{minutes}分钟", "unfinished, {minutes} min left"),
    "feedback.today": ("今天 {span}", "today {span}"),
    "feedback.tomorrow": ("明天 {span}", "tomorrow {span}"),
    "feedback.list_sep": ("、", ", "),
    "prefs.updated": ("设置已更新。", "Settings updated."),
    "prefs.show": (
        "作息 {day}；免打扰 {quiet}；语言 {lang}；时区 {tz}；每日卡片上限 {cap}",
        "Day {day}; quiet hours {quiet}; language {lang}; time zone {tz}; daily card cap {cap}",
    ),
    "prefs.quiet_off": ("关闭", "off"),
    "prefs.on": ("开启", "on"),
    "prefs.limits": (
        "\n会后留空 {buffer} 分钟；每天最多移动 {moves} 个已有安排；每天最多安排 {hours} 小时；"
        "一天最多延长 {extend} 分钟；过了午夜继续：{late}",
        "\n{buffer} min free after meetings; at most {moves} existing blocks moved a day; at most {hours} h "
        "planned a day; a day runs at most {extend} min longer; past midnight: {late}",
    ),
    "prefs.learn": (
        "\n按没做完的报告学到的用时倍数：{factor} 倍（新安排的时间 = 预估 × 倍数）：{learn}",
        "\nHow much longer work runs, learned from your unfinished reports: {factor}x (new time = estimate × "
        "this): {learn}",
    ),
    # admin replies (bot/handlers/admin.py, admin_text.py): in the admin's language; ids and codes stay
    "admin.dryrun.head": (
        "试运行：{name}（{open_id}）· {tz} · 没有写入任何东西",
        "dry run for {name} ({open_id}) · {tz} · nothing was written",
    ),
    "admin.dryrun.window": ("时间窗    {start} → {end}", "window   {start} → {end}"),
    "admin.dryrun.key": ("key {ref}", "key {ref}"),
    "admin.dryrun.block": ("时段 {block}", "block {block}"),
    "admin.dryrun.left": ("还差 {minutes} 分钟", "{minutes} min left"),
    "admin.dryrun.choices": ("可选 {choices}", "choices {choices}"),
    "admin.dryrun.target": ("目标      {what}", "target   {what}"),
    "admin.dryrun.decision": ("决定      {decision}（{text}）", "decision {decision} ({text})"),
    "admin.dryrun.metrics": ("指标      {metrics}", "metrics  {metrics}"),
    "admin.dryrun.issues": ("发现", "issues"),
    "admin.dryrun.none": ("（无）", "(none)"),
    "admin.dryrun.candidates": (
        "候选方案（按排名，第一个是确定性选择）",
        "candidates (ranked; the deterministic choice first)",
    ),
    "admin.dryrun.chosen": ("← 选中", "← chosen"),
    "admin.dryrun.risk_fit": ("风险{risk} · 容量 {fit}", "risk {risk} · fit {fit}"),
    "admin.dryrun.before": ("调整前", "before"),
    "admin.dryrun.after": ("调整后", "after"),
    "admin.dryrun.score": ("分数", "score"),
    "admin.dryrun.reason": ("理由", "reason"),
    "admin.dryrun.risk": ("风险", "risk"),
    "admin.dryrun.choice": ("选项", "choice"),
    "admin.dryrun.no_choice": (
        "选择      无（无需调整，不会发卡片）",
        "choice   none (close: no card would be sent)",
    ),
    "admin.dryrun.picked": ("选择      {candidate}，来自 {via}", "choice   {candidate} via {via}"),
    "admin.dryrun.user_reads": ("用户会看到（{lang}）：", "what the user would read ({lang}):"),
    "admin.dryrun.explanation": ("说明", "explanation"),
    "admin.dryrun.summary": ("摘要", "summary"),
    "admin.dryrun.question": ("提问", "question"),
    "admin.word.target.task": ("任务", "task"),
    "admin.word.target.unfinished": ("没做完", "unfinished"),
    "admin.word.source.llm": ("模型", "the model"),
    "admin.word.source.fallback": ("确定性排序", "the fallback"),
    "admin.word.lang.zh": ("中文", "Chinese"),
    "admin.word.lang.en": ("英文", "English"),
    "admin.word.trigger.pending": ("等待中", "pending"),
    "admin.word.trigger.processing": ("处理中", "processing"),
    "admin.word.trigger.preview_generated": ("已生成建议", "preview generated"),
    "admin.word.trigger.closed": ("无需调整", "closed, nothing to change"),
    "admin.word.trigger.rejected": ("被拒绝", "rejected"),
    "admin.word.trigger.failed": ("失败", "failed"),
    "admin.word.decision.propose": ("提出方案", "propose"),
    "admin.word.decision.ask_user": ("询问用户", "ask the user"),
    "admin.word.decision.notify_only": ("仅提醒", "heads-up only"),
    "admin.word.decision.close": ("无需调整", "nothing to change"),
    "admin.word.hit.dedupe": ("同一用户和任务半小时内已触发过", "same user and task within the half hour"),
    "admin.word.hit.idempotency": ("同一个请求", "the same request"),
    "admin.word.hit.message": ("同一条消息", "the same message"),
    "admin.word.notification.pending": ("等待发送", "pending"),
    "admin.word.notification.sending": ("发送中", "sending"),
    "admin.word.notification.sent": ("已发送", "sent"),
    "admin.word.notification.failed": ("失败待重试", "failed, will retry"),
    "admin.word.notification.dead": ("已放弃", "dead"),
    "admin.word.notification.skipped": ("已跳过", "skipped"),
    "admin.word.notification.deferred": ("已推迟", "deferred"),
    "admin.word.table.users": ("用户", "users"),
    "admin.word.table.tasks": ("任务", "tasks"),
    "admin.word.table.jobs": ("计时器", "jobs"),
    "admin.word.table.triggers": ("触发", "triggers"),
    "admin.word.table.previews": ("建议", "previews"),
    "admin.word.table.notifications": ("通知", "notifications"),
    "admin.word.table.inbox": ("收件", "inbox"),
    "admin.trigger.preview": ("，建议 {preview}（{decision}）", " · preview {preview} ({decision})"),
    "admin.trigger.error": ("，原因：{reason}", " · {reason}"),
    "admin.jobs.zone": ("接下来要触发的（{tz} 时间）：", "Next to fire ({tz} time):"),
    "admin.jobs.closed": ("最近跳过或取消的（{tz} 时间）：", "Recently skipped or canceled ({tz} time):"),
    "admin.jobs.closed_row": (
        "• {at} {title}（{user}）· {status}：{reason} · {id}",
        "• {at} {title} ({user}) · {status}: {reason} · {id}",
    ),
    "admin.word.job.skipped": ("已跳过", "skipped"),
    "admin.word.job.canceled": ("已取消", "canceled"),
    "admin.word.reason.task_missing": ("任务已不存在", "the task is gone"),
    "admin.word.reason.task_deleted": ("任务已删除", "the task was deleted"),
    "admin.word.reason.task_done": ("任务已完成", "the task is done"),
    "admin.word.reason.task_canceled": ("任务已取消", "the task was canceled"),
    "admin.word.reason.no_threshold": ("任务没有紧急时间", "the task has no urgency time"),
    "admin.word.reason.not_important": ("任务不重要", "the task is not important"),
    "admin.word.reason.already_scheduled": ("已经安排了时间", "time is already planned for it"),
    "admin.word.reason.already_planned": ("已经有建议在处理", "a suggestion for it is already under way"),
    "admin.jobs.row": ("• {at} {title}（{user}）· {id}", "• {at} {title} ({user}) · {id}"),
    "admin.notifications.which.dead": ("已放弃的", "dead"),
    "admin.notifications.which.waiting": ("失败、推迟或等待发送的", "failed/deferred/pending"),
    "admin.notifications.row": (
        "• {id} {status} · 已尝试 {attempts} 次 · 错误 {code} · 下次 {next}",
        "• {id} {status} · {attempts} attempt(s) · error {code} · next {next}",
    ),
    "admin.stats.row": ("{name}：{counts}", "{name}: {counts}"),
    # replies to chat commands and admin commands (bot/handlers/commands.py, admin.py, feedback.py, clicks.py)
    "today.header": ("接下来 24 小时（空闲 {free} 分钟）：", "Next 24 hours ({free} min free):"),
    "today.free": ("空闲 {free} 分钟。", "{free} min free."),
    "today.fixed": ("■", "■"),
    "tasks.header": ("未完成的任务（{count}）：", "Open tasks ({count}):"),
    "tasks.minutes": ("{minutes} 分钟", "{minutes} min"),
    "tasks.due": ("截止 {due}", "due {due}"),
    "tasks.urgent": ("紧急", "urgent"),
    "feedback.closed": (
        "看了一下，目前不需要调整日程（可能已经安排了补做时间）。",
        "I looked: nothing needs to change right now (a make-up may already be planned).",
    ),
    "feedback.failed": ("这次没能生成建议：{reason}", "I could not make a suggestion this time: {reason}"),
    "choose.unknown": ("这个选项已经失效了。", "That choice is no longer available."),
    "click.unknown": ("这个按钮已经失效了。", "This button no longer works."),
    "admin.trigger.created": (
        "已为 {user} 的「{task}」创建触发 {trigger}，正在生成建议。",
        "Trigger {trigger} created for {user}'s “{task}”; running it.",
    ),
    "admin.trigger.hit": (
        "已有触发 {trigger}（{status}，{hit}），没有重复创建。",
        "Trigger {trigger} already exists ({status}, {hit}); nothing new was created.",
    ),
    "admin.trigger.result": ("触发 {trigger}：{status}{preview}", "Trigger {trigger}: {status}{preview}"),
    "admin.user_not_found": ("找不到用户 {user}。", "No user {user}."),
    "admin.dryrun.started": (
        "试运行中（不会写入或发送任何东西）…",
        "Dry run started (writes and sends nothing)…",
    ),
    "admin.dryrun.failed": ("试运行失败：{reason}", "Dry run failed: {reason}"),
    "admin.jobs.header": ("任务计时器：{counts}", "Jobs: {counts}"),
    "admin.jobs.none": ("没有待触发的计时器。", "No pending jobs."),
    "admin.notifications.header": ("通知（{which}）：", "Notifications ({which}):"),
    "admin.notifications.none": ("没有符合条件的通知。", "No matching notifications."),
    "admin.retry.done": ("通知 {id} 已重新排队。", "Notification {id} is queued again."),
    "admin.retry.not_found": ("找不到通知 {id}。", "No notification {id}."),
    "admin.retry.bad_state": (
        "通知 {id} 的状态是 {status}，不能重试。",
        "Notification {id} is {status}; not retried.",
    ),
    "admin.stats": ("统计：\n{lines}", "Stats:\n{lines}"),
    # ParseError codes: zh names the problem here; en is the ParseError's own message (which names it too)
    "parse.empty_title": ("缺少任务标题。用法：/add <标题> <分钟> [by <时间>] [!]", "{message}"),
    "parse.title_too_long": ("标题太长（最多 {max} 个字）", "{message}"),
    "parse.missing_minutes": ("请在标题后写分钟数。用法：/add <标题> <分钟> [by <时间>] [!]", "{message}"),
    "parse.missing_deadline": ("「{word}」后面缺少截止时间，例如 /add 写周报 30 by 明天18:00", "{message}"),
    "parse.minutes_out_of_range": ("分钟数必须在 {min} 到 {max} 之间（现在是 {minutes}）", "{message}"),
    "parse.missing_task": ("请说明是哪个任务，例如 /done 实验报告", "{message}"),
    "parse.nothing_to_edit": (
        "请说明要改什么。用法：/edit <任务> [分钟] [by <时间>|by none] [!|-]",
        "{message}",
    ),
    "parse.bad_time": ("看不懂时间「{text}」，可以写 18:00、明天18:00、周五 18:00 或 ISO 8601", "{message}"),
    "parse.missing_time_of_day": ("请给「{text}」加上具体时间，例如 18:00", "{message}"),
    "parse.bad_prefs": ("设置项 {key} 缺少取值。用法：{usage}", "{message}"),
    "parse.unknown_pref": ("没有名为 {key} 的设置。用法：{usage}", "{message}"),
    "parse.bad_range": ("时间段要写成 08:00-22:30 这样，且要合理。用法：{usage}", "{message}"),
    "parse.bad_lang": ("语言只能是 zh 或 en（收到 {value}）", "{message}"),
    "parse.bad_timezone": ("不认识的时区 {value}，例如 Asia/Shanghai", "{message}"),
    "parse.bad_cap": ("每日上限要写 1 到 100 之间的数字。用法：{usage}", "{message}"),
    "parse.missing_admin_command": ("请写出管理命令。用法：{usage}", "{message}"),
    "parse.unknown_admin_command": ("没有这个管理命令。用法：{usage}", "{message}"),
    "parse.missing_argument": ("缺少参数。用法：{usage}", "{message}"),
    "parse.unexpected_argument": ("多余的参数。用法：{usage}", "{message}"),
}


def norm_locale(locale: str | None) -> str:
    """zh or en; anything English-looking is en, everything else zh (the product default)."""
    return "en" if (locale or "").lower().startswith("en") else "zh"


def t(key: str, locale: str | None, **params: object) -> str:
    """The text for `key` in `locale`, formatted with `params`. Unknown keys raise KeyError."""
    zh, en = _TEXTS[key]
    template = en if norm_locale(locale) == "en" else zh
    return template.format(**params) if params else template


def both(key: str, **params: object) -> Mapping[str, str]:
    """The text in both locales, keyed as Feishu's i18n fields (zh_cn, en_us)."""
    return {"zh_cn": t(key, "zh", **params), "en_us": t(key, "en", **params)}


def has(key: str) -> bool:
    return key in _TEXTS


_SERVICE_CODES = frozenset(c.value for c in ErrorCode)


def error_message(code: str, locale: str | None) -> str:
    """The user-facing sentence for a service error code (the services own the wording)."""
    if code not in _SERVICE_CODES:
        return t("error.unknown", locale, code=code)
    return service_message(code, norm_locale(locale))


def known_error(code: str) -> bool:
    return code in _SERVICE_CODES


def candidate_type_label(candidate_type: str, locale: str | None) -> str:
    key = f"type.{candidate_type}"
    return t(key, locale) if key in _TEXTS else candidate_type


def risk_label(risk_level: str, locale: str | None) -> str:
    key = f"risk.{risk_level}"
    return t(key, locale) if key in _TEXTS else risk_level


def parse_error_text(error: ParseError, locale: str | None) -> str:
    """A ParseError in the user's language: the problem, named."""
    key = f"parse.{error.code}"
    problem = error.message
    if norm_locale(locale) == "zh" and key in _TEXTS:
        template = _TEXTS[key][0]
        try:
            problem = template.format(**error.params)
        except (KeyError, IndexError):
            problem = template.split("{", 1)[0].rstrip("（(：: ") or error.message
    return t("parse_error", locale, problem=problem)


def busy_age_text(minutes: int, locale: str | None) -> str:
    """The note on a card planned on an old copy of the user's Feishu busy time ("read 2 h 5 min ago")."""
    h, n = divmod(max(minutes, 0), 60)
    if not h:
        age = t("age.minutes", locale, n=n)
    elif not n:
        age = t("age.hours", locale, h=h)
    else:
        age = t("age.hours_minutes", locale, h=h, n=n)
    return t("busy.age", locale, age=age)
