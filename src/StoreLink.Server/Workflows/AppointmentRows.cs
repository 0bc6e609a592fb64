using StoreLink.Protocol;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// A store's appointment schedule: data a manager writes, not code. Slots of <c>slot_minutes</c> fill the opening
/// ranges of each weekday (<c>weekly</c>; none: the store's business hours); every technician who works that day
/// takes <c>per_slot</c> customers in each slot; a date in <c>dates</c> overrides the day (its own hours, empty =
/// closed, its own technicians or slot length). Times are local to the store.
/// </summary>
public sealed record ScheduleDefinition(
    int? SlotMinutes, List<ServiceDef>? Services, Dictionary<string, List<HoursRange>>? Weekly, List<TechnicianDef>? Technicians,
    Dictionary<string, DateDef>? Dates, int? MinNoticeMinutes, int? BookDaysAhead, int? ChangeCutoffMinutes, List<ReminderRule>? Reminders)
{
    public const int DefaultSlotMinutes = 30;
    public const int DefaultMinNoticeMinutes = 60;
    public const int DefaultBookDaysAhead = 30;
    public const int DefaultChangeCutoffMinutes = 120;

    public static readonly List<ReminderRule> DefaultReminders = [new(null, "19:00"), new(120, null)];

    public int Slot => SlotMinutes ?? DefaultSlotMinutes;
    public int MinNotice => MinNoticeMinutes ?? DefaultMinNoticeMinutes;
    public int DaysAhead => BookDaysAhead ?? DefaultBookDaysAhead;
    public int ChangeCutoff => ChangeCutoffMinutes ?? DefaultChangeCutoffMinutes;
    public List<ReminderRule> ReminderRules => Reminders ?? DefaultReminders;

    public ServiceDef? Service(string? key) => Services?.FirstOrDefault(s => s.Key == key);

    public string ServiceLabel(string key, string language = Texts.DefaultLanguage) => Texts.Pick(Service(key)?.Label, language) ?? key;
}

/// <summary>What a customer books: <c>shoe_deep_clean</c> 鞋履深度清洁, <c>device_drop_off</c> 数码送修.</summary>
public sealed record ServiceDef(string? Key, Dictionary<string, string>? Label);

/// <summary>
/// A staff member who takes appointments: <c>per_slot</c> customers per slot (default 1), on <c>days</c>
/// (<c>mon</c>…<c>sun</c>; none: every day), for <c>services</c> (none: all).
/// </summary>
public sealed record TechnicianDef(string? StaffId, int? PerSlot, List<string>? Days, List<string>? Services)
{
    public int Places => PerSlot ?? 1;

    public bool Does(string? service) => service is null || Services is null || Services.Contains(service);
}

/// <summary>One date's exception: <c>hours</c> (empty: closed), <c>technicians</c>, <c>slot_minutes</c>; what is left out comes from the week.</summary>
public sealed record DateDef(List<HoursRange>? Hours, List<TechnicianDef>? Technicians, int? SlotMinutes);

/// <summary>A reminder before the slot: <c>before_minutes</c> ahead, or the day before at <c>day_before_at</c> (HH:mm local).</summary>
public sealed record ReminderRule(int? BeforeMinutes, string? DayBeforeAt);

/// <summary>A slot as clients see it; <c>technicians</c> (staff only) shows who takes how many.</summary>
public sealed record SlotDto(DateTimeOffset StartsAt, DateTimeOffset EndsAt, string Date, string Time, int Capacity, int Remaining,
    IReadOnlyList<SlotTechnicianDto>? Technicians);

public sealed record SlotTechnicianDto(string StaffId, string Name, int PerSlot, int Booked);

public sealed record SlotsDto(string StoreId, string StoreName, string TimeZone, int SlotMinutes, IReadOnlyList<ServiceDto> Services, IReadOnlyList<SlotDto> Slots);

public sealed record ServiceDto(string Key, string Label, string? LabelEn);

public sealed record ScheduleDto(string StoreId, string TimeZone, int Version, ScheduleDefinition? Definition, DateTimeOffset? UpdatedAt);

/// <summary>
/// An appointment. <c>status</c>: <c>booked</c>, <c>cancelled</c>, <c>completed</c>, <c>no_show</c>.
/// <c>actions</c>: what the caller may do now (<c>reschedule</c>, <c>cancel</c>), as on the card.
/// </summary>
public sealed record AppointmentDto(
    string Id, string StoreId, string CustomerId, string? CustomerName, string Service, string ServiceLabel, DateTimeOffset StartsAt, DateTimeOffset EndsAt,
    string TechnicianId, string? TechnicianName, string Status, string? WorkItemId, string? WorkItemNumber, string? Note, string? ConversationId, int Version,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<string> Actions);


/// <summary>
/// <c>POST /v1/appointments</c>. Customers give <c>store_key</c>; staff and API keys <c>store_id</c> and <c>customer_id</c>
/// (and may choose <c>technician_id</c>). <c>idempotency_key</c>: the same key again answers the first booking.
/// </summary>
public sealed record BookAppointmentRequest(
    string? StoreKey, string? StoreId, string? CustomerId, string? Service, DateTimeOffset? StartsAt, string? WorkItemId, string? Note,
    string? TechnicianId, string? ConversationId, string? IdempotencyKey);

/// <summary><c>POST /v1/appointments/{id}/move</c>.</summary>
public sealed record MoveAppointmentRequest(DateTimeOffset? StartsAt, string? TechnicianId, string? ActionId);

/// <summary><c>POST /v1/appointments/{id}/cancel</c>.</summary>
public sealed record CancelAppointmentRequest(string? Reason, string? ActionId);

/// <summary><c>POST /v1/appointments/{id}/status</c> (staff): the customer came (<c>completed</c>) or did not (<c>no_show</c>).</summary>
public sealed record AppointmentStatusRequest(string? Status);

public sealed class AppointmentRow
{
    public const string Columns =
        "id, org_id, store_id, customer_id, service, starts_at, ends_at, technician_id, place, status, work_item_id, note, conversation_id, version, " +
        "created_by, created_at, updated_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string StoreId { get; set; } = "";
    public string CustomerId { get; set; } = "";
    public string Service { get; set; } = "";
    public long StartsAt { get; set; }
    public long EndsAt { get; set; }
    public string TechnicianId { get; set; } = "";
    public long Place { get; set; }
    public string Status { get; set; } = "booked";
    public string? WorkItemId { get; set; }
    public string? Note { get; set; }
    public string? ConversationId { get; set; }
    public long Version { get; set; }
    public string CreatedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
}

public static class AppointmentStatuses
{
    public const string Booked = "booked";
    public const string Cancelled = "cancelled";
    public const string Completed = "completed";
    public const string NoShow = "no_show";
}
