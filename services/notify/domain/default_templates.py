# ruff: noqa: RUF001, E501 - Chinese punctuation is the point of these texts, which read better unbroken
"""Built-in templates, zh-CN and en, one per trigger for any channel (tenants override them).

Variables and filters: see ``templates``. Amounts are minor units, formatted with ``money``;
times are UTC datetimes, formatted with ``datetime`` / ``date`` / ``time`` in the store's zone.
"""

from __future__ import annotations

from services.notify.domain.templates import ANY_CHANNEL, Template

_BALANCE = "{{ (event.principal_minor + event.bonus_minor)|money(event.currency_code) }}"
_SERVICES = "event.services|map(attribute='display_name')|join"

_ZH: dict[str, Template] = {
    "welcome": Template(
        "亲爱的{{ member.display_name or '会员' }}，欢迎加入！您的会员号 {{ event.member_number }}。",
        "欢迎加入",
    ),
    "tier_changed": Template(
        "{{ member.display_name }}，您的会员等级已由 {{ event.from_tier_id }} 变更为 {{ event.to_tier_id }}。",
        "会员等级变更",
    ),
    "referral_reward": Template(
        "{{ member.display_name }}，您推荐的好友已完成消费"
        " {{ event.qualifying_spend_minor|money(event.currency_code) }}，推荐奖励已发放到您的账户。",
        "推荐奖励到账",
    ),
    "lapse_reengagement": Template(
        "{{ member.display_name }}，好久不见！您已有 {{ event.days }} 天没来店里了，我们为您准备了专属关怀，期待您的光临。",
        "想念您",
    ),
    # a campaign's own text (members checked its variables); the subject is the campaign's name
    "campaign_message": Template("{{ event.body|render_body }}", "{{ event.campaign_name }}"),
    "membership_anniversary": Template(
        "{{ member.display_name }}，感谢您 {{ event.years }} 年来的陪伴！入会周年快乐，"
        "{% if event.reward.points %}{{ event.reward.points }} 周年积分已送到您的账户，{% endif %}期待您的光临。",
        "入会周年快乐",
    ),
    "birthday_greeting": Template(
        "{{ member.display_name }}，生日快乐！{% if event.points %}{{ event.points }} 生日积分已送到您的账户，{% endif %}"
        "期待您的光临。",
        "生日快乐",
    ),
    "card_lost": Template(
        "【安全提醒】您尾号 {{ event.card_number|tail(4) }} 的会员卡已挂失，挂失期间不能使用。"
        "如非本人操作，请立即联系门店。",
        "会员卡挂失提醒",
    ),
    "top_up_notice": Template(
        "您的会员账户充值 {{ event.delta_minor|money(event.currency_code) }} 已到账，当前余额 "
        + _BALANCE
        + "。",
        "充值到账",
    ),
    "spend_notice": Template(
        "您的会员账户消费 {{ (0 - event.delta_minor)|money(event.currency_code) }}，当前余额 "
        + _BALANCE
        + "。如有疑问请联系门店。",
        "消费提醒",
    ),
    "points_earned": Template(
        "您获得 {{ event.points }} 积分，当前可用积分 {{ event.points_available }}"
        "{% if event.expire_time %}，本次积分 {{ event.expire_time|date }} 到期{% endif %}。",
        "积分到账",
    ),
    "points_expiring": Template(
        "您有 {{ event.points }} 积分将于 {{ event.expire_time|date }} 到期，请及时使用。",
        "积分即将到期",
    ),
    "membership_renewed": Template(
        "{{ member.display_name or '会员' }}，您已{% if event.renewal %}续费{% else %}开通{% endif %}付费会员"
        "（{{ event.fee_minor|money(event.currency_code) }}），有效期至 {{ event.paid_until|date }}。",
        "{% if event.renewal %}会员续费成功{% else %}会员开通成功{% endif %}",
    ),
    "membership_renewal_due": Template(
        "{{ member.display_name or '会员' }}，您的付费会员将于 {{ event.paid_until|date }} 到期，"
        "到店或结账时续费即可继续享受会员权益。",
        "会员即将到期",
    ),
    "membership_expired": Template(
        "{{ member.display_name or '会员' }}，您的付费会员已于 {{ event.paid_until|date }} 到期，"
        "续费后即可恢复会员权益。",
        "会员已到期",
    ),
    "appointment_booked": Template(
        "预约成功：{{ " + _SERVICES + "('、') }}，{{ event.start_time|datetime }}。期待您的光临！",
        "预约成功",
    ),
    "appointment_rescheduled": Template(
        "您的预约已改至 {{ event.start_time|datetime }}（原定 {{ event.previous_start_time|datetime }}）。",
        "预约已改期",
    ),
    "appointment_cancelled": Template(
        "您 {{ event.start_time|datetime }} 的预约已取消。",
        "预约已取消",
    ),
    "reminder": Template(
        "到店提醒：您预约的{{ "
        + _SERVICES
        + "('、') }}将于 {{ event.start_time|datetime }} 开始，请准时到店。",
        "到店提醒",
    ),
    "follow_up": Template(
        "{{ member.display_name }}，根据您的护理计划，建议您于 {{ event.due_date|date }} 前后预约"
        "「{{ event.follow_up_service_display_name }}」。",
        "护理计划回访",
    ),
    "waitlist_offer": Template(
        "候补通知：{{ event.start_time|datetime }} 有空位，请在 {{ event.offer_expire_time|datetime }}"
        " 前确认预约，逾期将让给下一位。",
        "候补空位通知",
    ),
    "complaint_acknowledged": Template(
        "我们已收到您的反馈，门店将在 {{ event.first_response_due_time|datetime }} 前与您联系。感谢您的耐心。",
        "已收到您的反馈",
    ),
    "complaint_escalated": Template(
        "【投诉超时】{{ event.complaint }} 于 {{ event.open_time|datetime }} 提交，首次回复期限"
        " {{ event.first_response_due_time|datetime }} 已过，请立即处理。",
        "投诉超时未回复",
    ),
}

_EN: dict[str, Template] = {
    "welcome": Template(
        "Welcome, {{ member.display_name or 'member' }}! Your member number is {{ event.member_number }}.",
        "Welcome",
    ),
    "tier_changed": Template(
        "{{ member.display_name }}, your membership tier changed from {{ event.from_tier_id }}"
        " to {{ event.to_tier_id }}.",
        "Your tier changed",
    ),
    "referral_reward": Template(
        "{{ member.display_name }}, a friend you referred spent"
        " {{ event.qualifying_spend_minor|money(event.currency_code) }}; your referral reward is in your account.",
        "Referral reward",
    ),
    "lapse_reengagement": Template(
        "{{ member.display_name }}, we miss you! It has been {{ event.days }} days since your last visit;"
        " we would love to see you again.",
        "We miss you",
    ),
    "campaign_message": Template("{{ event.body|render_body }}", "{{ event.campaign_name }}"),
    "membership_anniversary": Template(
        "{{ member.display_name }}, thank you for {{ event.years }} year(s) with us! Happy membership anniversary."
        "{% if event.reward.points %} {{ event.reward.points }} anniversary points are in your account.{% endif %}",
        "Happy membership anniversary",
    ),
    "birthday_greeting": Template(
        "Happy birthday, {{ member.display_name }}!{% if event.points %} {{ event.points }} birthday points"
        " are in your account.{% endif %} We look forward to seeing you.",
        "Happy birthday",
    ),
    "card_lost": Template(
        "Security notice: your card ending {{ event.card_number|tail(4) }} was reported lost and cannot be"
        " used. If this was not you, contact the store at once.",
        "Card reported lost",
    ),
    "top_up_notice": Template(
        "Your top-up of {{ event.delta_minor|money(event.currency_code) }} has arrived. Balance: "
        + _BALANCE
        + ".",
        "Top-up received",
    ),
    "spend_notice": Template(
        "You spent {{ (0 - event.delta_minor)|money(event.currency_code) }} from your account. Balance: "
        + _BALANCE
        + ". Questions? Contact the store.",
        "Account spend",
    ),
    "points_earned": Template(
        "You earned {{ event.points }} points; {{ event.points_available }} available"
        "{% if event.expire_time %}, these expire on {{ event.expire_time|date }}{% endif %}.",
        "Points earned",
    ),
    "points_expiring": Template(
        "{{ event.points }} of your points expire on {{ event.expire_time|date }}. Use them before then.",
        "Points expiring",
    ),
    "membership_renewed": Template(
        "Your paid membership is {% if event.renewal %}renewed{% else %}active{% endif %}"
        " ({{ event.fee_minor|money(event.currency_code) }}) until {{ event.paid_until|date }}.",
        "{% if event.renewal %}Membership renewed{% else %}Membership started{% endif %}",
    ),
    "membership_renewal_due": Template(
        "Your paid membership ends on {{ event.paid_until|date }}. Renew at the store or at checkout"
        " to keep its benefits.",
        "Membership ending soon",
    ),
    "membership_expired": Template(
        "Your paid membership ended on {{ event.paid_until|date }}. Renew to get its benefits back.",
        "Membership ended",
    ),
    "appointment_booked": Template(
        "Booked: {{ " + _SERVICES + "(', ') }} on {{ event.start_time|datetime }}. See you soon!",
        "Appointment booked",
    ),
    "appointment_rescheduled": Template(
        "Your appointment moved to {{ event.start_time|datetime }}"
        " (was {{ event.previous_start_time|datetime }}).",
        "Appointment rescheduled",
    ),
    "appointment_cancelled": Template(
        "Your appointment on {{ event.start_time|datetime }} is cancelled.",
        "Appointment cancelled",
    ),
    "reminder": Template(
        "Reminder: your {{ " + _SERVICES + "(', ') }} starts {{ event.start_time|datetime }}.",
        "Appointment reminder",
    ),
    "follow_up": Template(
        "{{ member.display_name }}, your care plan suggests booking"
        " {{ event.follow_up_service_display_name }} around {{ event.due_date|date }}.",
        "Your care plan",
    ),
    "waitlist_offer": Template(
        "A slot opened on {{ event.start_time|datetime }}. Confirm before"
        " {{ event.offer_expire_time|datetime }} or it goes to the next person.",
        "A slot opened up",
    ),
    "complaint_acknowledged": Template(
        "We received your feedback; the store will contact you by {{ event.first_response_due_time|datetime }}.",
        "We received your feedback",
    ),
    "complaint_escalated": Template(
        "Complaint SLA breached: {{ event.complaint }} opened {{ event.open_time|datetime }}, first reply was"
        " due {{ event.first_response_due_time|datetime }}. Act now.",
        "Complaint SLA breached",
    ),
}

DEFAULT_TEMPLATES: dict[tuple[str, str, str], Template] = {
    **{(key, ANY_CHANNEL, "zh-CN"): t for key, t in _ZH.items()},
    **{(key, ANY_CHANNEL, "en"): t for key, t in _EN.items()},
}
