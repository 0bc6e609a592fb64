using System.Globalization;
using System.Text.RegularExpressions;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>The arithmetic of a schedule: its validation, the slots of a local date, and when reminders go out.</summary>
public static partial class AppointmentSchedule
{
    /// <summary>A slot of a day, with the technicians who take appointments in it.</summary>
    public sealed record Slot(DateOnly Date, TimeOnly Time, DateTimeOffset StartsAt, DateTimeOffset EndsAt, IReadOnlyList<TechnicianDef> Technicians)
    {
        public IEnumerable<TechnicianDef> For(string? service) => Technicians.Where(t => t.Does(service));
    }

    [GeneratedRegex("^[a-z0-9_]{1,40}$")]
    private static partial Regex KeyPattern();

    public static void Validate(Validation v, ScheduleDefinition d, IReadOnlySet<string> storeStaff)
    {
        if (d.SlotMinutes is < 5 or > 480)
            v.Add("slot_minutes", "5 to 480 minutes.");
        if (d.Services is not { Count: > 0 and <= 50 })
            v.Add("services", "1 to 50 services, e.g. {\"key\":\"shoe_deep_clean\",\"label\":{\"zh-CN\":\"…\",\"en\":\"Shoe deep clean\"}}.");
        var keys = new HashSet<string>();
        for (var i = 0; i < (d.Services?.Count ?? 0); i++)
        {
            var service = d.Services![i];
            if (service?.Key is null || !KeyPattern().IsMatch(service.Key))
                v.Add($"services[{i}].key", "Lowercase letters, digits and _ (at most 40).");
            else if (!keys.Add(service.Key))
                v.Add($"services[{i}].key", "Each service once.");
            if (service?.Label?.GetValueOrDefault("zh-CN") is not { Length: > 0 and <= 50 })
                v.Add($"services[{i}].label", "zh-CN is required (at most 50 characters); en is recommended.");
        }
        if (d.Weekly is not null)
            WeeklyHours.Validate(v, "weekly", d.Weekly);
        Technicians(v, "technicians", d.Technicians, keys, storeStaff);
        if (d.Dates is { Count: > 400 })
            v.Add("dates", "At most 400 dates.");
        foreach (var (key, day) in d.Dates ?? [])
        {
            var path = $"dates.{key}";
            if (!DateOnly.TryParseExact(key, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
                v.Add(path, "Dates are yyyy-MM-dd.");
            if (day is null)
            {
                v.Add(path, "An object: {\"hours\":[…]} ([] closes the day), \"technicians\", \"slot_minutes\".");
                continue;
            }
            if (day.Hours is not null)
                WeeklyHours.Validate(v, path, new Dictionary<string, List<HoursRange>> { ["mon"] = day.Hours });
            if (day.SlotMinutes is < 5 or > 480)
                v.Add($"{path}.slot_minutes", "5 to 480 minutes.");
            if (day.Technicians is not null)
                Technicians(v, $"{path}.technicians", day.Technicians, keys, storeStaff);
        }
        if (d.MinNoticeMinutes is < 0 or > 10080)
            v.Add("min_notice_minutes", "0 to 10080 minutes.");
        if (d.BookDaysAhead is < 1 or > 365)
            v.Add("book_days_ahead", "1 to 365 days.");
        if (d.ChangeCutoffMinutes is < 0 or > 10080)
            v.Add("change_cutoff_minutes", "0 to 10080 minutes.");
        if (d.Reminders is { Count: > 5 })
            v.Add("reminders", "At most 5 reminders.");
        for (var i = 0; i < (d.Reminders?.Count ?? 0); i++)
        {
            var rule = d.Reminders![i];
            var valid = rule is not null && (rule.BeforeMinutes is null != (rule.DayBeforeAt is null))
                && (rule.BeforeMinutes is null or (>= 5 and <= 10080))
                && (rule.DayBeforeAt is null || TimeOnly.TryParseExact(rule.DayBeforeAt, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out _));
            if (!valid)
                v.Add($"reminders[{i}]", "Either {\"before_minutes\":5…10080} or {\"day_before_at\":\"HH:mm\"}.");
        }
    }

    private static void Technicians(Validation v, string path, List<TechnicianDef>? technicians, HashSet<string> services, IReadOnlySet<string> storeStaff)
    {
        if (technicians is { Count: > 100 })
            v.Add(path, "At most 100 technicians.");
        var seen = new HashSet<string>();
        for (var i = 0; i < (technicians?.Count ?? 0); i++)
        {
            var t = technicians![i];
            if (t?.StaffId is null || !storeStaff.Contains(t.StaffId))
                v.Add($"{path}[{i}].staff_id", "A staff member with a role in this store.");
            else if (!seen.Add(t.StaffId))
                v.Add($"{path}[{i}].staff_id", "Each staff member once.");
            if (t?.PerSlot is < 1 or > 50)
                v.Add($"{path}[{i}].per_slot", "1 to 50 customers per slot.");
            if (t?.Days?.Any(d => !WeeklyHours.Days.Contains(d)) == true)
                v.Add($"{path}[{i}].days", "Days are mon, tue, wed, thu, fri, sat, sun.");
            if (t?.Services?.Any(s => !services.Contains(s)) == true)
                v.Add($"{path}[{i}].services", "Keys of the schedule's services.");
        }
    }

    public static TimeZoneInfo Zone(StoreRow store) => TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone);

    public static DateOnly LocalDate(StoreRow store, DateTimeOffset t) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(t, Zone(store)).DateTime);

    /// <summary>A local wall-clock time of the store as an instant (null when it does not exist, in a spring-forward gap).</summary>
    public static DateTimeOffset? Instant(StoreRow store, DateOnly date, TimeSpan time)
    {
        var zone = Zone(store);
        var local = date.ToDateTime(TimeOnly.MinValue).Add(time);
        if (zone.IsInvalidTime(local))
            return null;
        return new DateTimeOffset(local, zone.GetUtcOffset(local));
    }

    /// <summary>The slots of a local date, in order: the date's exception, else its weekday (else the store's hours).</summary>
    public static IReadOnlyList<Slot> SlotsOn(ScheduleDefinition d, StoreRow store, DateOnly date)
    {
        var day = WeeklyHours.Days[((int)date.DayOfWeek + 6) % 7];
        var exception = d.Dates?.GetValueOrDefault(date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        IEnumerable<HoursRange> hours = exception?.Hours
            ?? (d.Weekly is not null ? d.Weekly.GetValueOrDefault(day) : WeeklyHours.Parse(store.BusinessHours).GetValueOrDefault(day)) ?? [];
        var length = exception?.SlotMinutes ?? d.Slot;
        var technicians = exception?.Technicians ?? (d.Technicians ?? []).Where(t => t.Days is null || t.Days.Contains(day)).ToList();
        var slots = new List<Slot>();
        foreach (var range in hours.OrderBy(r => WeeklyHours.Minutes(r.Open)))
        {
            var open = WeeklyHours.Minutes(range.Open) ?? 0;
            var close = WeeklyHours.Minutes(range.Close) ?? 0;
            for (var m = open; m + length <= close; m += length)
                if (Instant(store, date, TimeSpan.FromMinutes(m)) is { } start)
                    slots.Add(new Slot(date, TimeOnly.FromTimeSpan(TimeSpan.FromMinutes(m)), start, start.AddMinutes(length), technicians));
        }
        return slots;
    }

    /// <summary>The slot that starts at <paramref name="startsAt"/>, if the schedule has one.</summary>
    public static Slot? SlotAt(ScheduleDefinition d, StoreRow store, DateTimeOffset startsAt) =>
        SlotsOn(d, store, LocalDate(store, startsAt)).FirstOrDefault(s => s.StartsAt == startsAt);

    /// <summary>
    /// When the reminders of an appointment go out, in order. A reminder due in the store's quiet hours goes at their
    /// end if that is still before the slot, else just before they begin (the evening before); a reminder already past,
    /// or not before the slot, is left out. Two rules that land on the same minute send one reminder.
    /// </summary>
    public static IReadOnlyList<DateTimeOffset> ReminderTimes(ScheduleDefinition d, StoreRow store, DateTimeOffset startsAt, DateTimeOffset now)
    {
        var times = new SortedSet<DateTimeOffset>();
        foreach (var rule in d.ReminderRules)
        {
            DateTimeOffset? due = rule.BeforeMinutes is { } minutes ? startsAt.AddMinutes(-minutes)
                : Instant(store, LocalDate(store, startsAt).AddDays(-1), TimeOnly.ParseExact(rule.DayBeforeAt!, "HH:mm", CultureInfo.InvariantCulture).ToTimeSpan());
            if (due is null)
                continue;
            var at = OutsideQuietHours(store, due.Value, startsAt);
            if (at > now && at < startsAt)
                times.Add(at);
        }
        return times.ToList();
    }

    /// <summary>A reminder time moved out of quiet hours: to their end if before the slot, else to a minute before they begin.</summary>
    public static DateTimeOffset OutsideQuietHours(StoreRow store, DateTimeOffset due, DateTimeOffset startsAt)
    {
        var later = Notifier.DueAt(store, due, urgent: false);
        if (later == due || later < startsAt)
            return later;
        var zone = Zone(store);
        var local = TimeZoneInfo.ConvertTime(due, zone);
        var start = TimeOnly.ParseExact(store.QuietStart!, "HH:mm", CultureInfo.InvariantCulture);
        var end = TimeOnly.ParseExact(store.QuietEnd!, "HH:mm", CultureInfo.InvariantCulture);
        var date = DateOnly.FromDateTime(local.DateTime);
        // Quiet hours across midnight that began yesterday evening.
        if (start > end && TimeOnly.FromDateTime(local.DateTime) < end)
            date = date.AddDays(-1);
        return (Instant(store, date, start.ToTimeSpan()) ?? due).AddMinutes(-1);
    }

    /// <summary>11月27日 周五 10:00–10:30 (Fri 27 Nov 10:00–10:30 in English), in the store's time zone.</summary>
    public static string Display(StoreRow store, DateTimeOffset startsAt, DateTimeOffset endsAt, string language)
    {
        var zone = Zone(store);
        var start = TimeZoneInfo.ConvertTime(startsAt, zone);
        var end = TimeZoneInfo.ConvertTime(endsAt, zone);
        return $"{Texts.Time(language, start, "appointment_day_format")} {start:HH:mm}–{end:HH:mm}";
    }
}
