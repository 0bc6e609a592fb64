using System.Globalization;
using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// A store's booking schedule and the slots a caller may book.
public sealed partial class AppointmentActions
{
    public async Task<ScheduleDto> GetScheduleAsync(CurrentUser user, string storeId, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        var row = await db.QuerySingleOrDefaultAsync<(string Definition, long Version, long UpdatedAt)?>(
            "SELECT definition, version, updated_at FROM appointment_schedules WHERE store_id = @id", new { id = store.Id }, ct);
        return row is { } r
            ? new ScheduleDto(store.Id, store.TimeZone, (int)r.Version, Parse(r.Definition), DateTimeOffset.FromUnixTimeMilliseconds(r.UpdatedAt))
            : new ScheduleDto(store.Id, store.TimeZone, 0, null, null);
    }

    /// <summary>A new version of the store's schedule (managers, org admins). Appointments already booked keep their slot.</summary>
    public async Task<ScheduleDto> PutScheduleAsync(CurrentUser user, string storeId, ScheduleDefinition? definition, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        if (!user.HasStoreRole(store.Id, Roles.Manager))
            throw ApiException.Forbidden("The store's managers and org admins set its appointment schedule.");
        if (definition is null)
            throw ApiException.Invalid("The body is the schedule: {\"slot_minutes\",\"services\",\"weekly\",\"technicians\",\"dates\",\"reminders\",…}.");
        var v = new Validation();
        AppointmentSchedule.Validate(v, definition, await ActiveStaffAsync(store, ct));
        v.ThrowIfAny();
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await db.ExecuteAsync("""
            INSERT INTO appointment_schedules (store_id, definition, version, updated_by, updated_at) VALUES (@storeId, @definition, 1, @me, @now)
            ON CONFLICT (store_id) DO UPDATE SET definition = excluded.definition, version = appointment_schedules.version + 1,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at
            """, new { storeId = store.Id, definition = JsonSerializer.Serialize(definition, ProtocolJson.Options), me = user.Id, now }, ct);
        return await GetScheduleAsync(user, store.Id, ct);
    }

    /// <summary>
    /// The slots of local dates <paramref name="from"/>…<paramref name="to"/> (at most 31 days; default the next 7) that
    /// the caller may book now, each with its capacity for the service and the places left. Customers see the store's
    /// booking window (not sooner than the notice, not further ahead than allowed); staff every future slot.
    /// </summary>
    public async Task<SlotsDto> SlotsAsync(CurrentUser user, string? storeKey, string? storeId, string? service, string? from, string? to, CancellationToken ct)
    {
        var store = await StoreForAsync(user, storeKey, storeId, ct);
        var schedule = await ScheduleAsync(store.Id, ct);
        var v = new Validation();
        var today = AppointmentSchedule.LocalDate(store, clock.GetUtcNow());
        // Dates are bounded before any day is added to them: 9999-12-31 plus a day overflows.
        var earliest = today.AddDays(-1);
        var latest = today.AddDays(366);
        var first = Date(v, "from", from, earliest, latest) ?? today;
        var last = Date(v, "to", to, earliest, latest) ?? (first < latest.AddDays(-6) ? first.AddDays(6) : latest);
        if (last < first || last.DayNumber - first.DayNumber > 30)
            v.Add("to", "From from, at most 31 days.");
        if (service is not null && schedule?.Service(service) is null)
            v.Add("service", "One of the store's services.");
        v.ThrowIfAny();
        if (schedule is null)
            return new SlotsDto(store.Id, store.Name, store.TimeZone, ScheduleDefinition.DefaultSlotMinutes, [], []);

        var slots = new List<AppointmentSchedule.Slot>();
        for (var date = first; date <= last; date = date.AddDays(1))
            slots.AddRange(AppointmentSchedule.SlotsOn(schedule, store, date).Where(s => Bookable(user, schedule, store, s.StartsAt) is null));
        var active = await ActiveStaffAsync(store, ct);
        var booked = await BookedAsync(store.Id, slots, ct);
        var names = user.IsCustomer ? null : await StaffNamesAsync(slots.SelectMany(s => s.Technicians).Select(t => t.StaffId!), ct);
        var result = new List<SlotDto>();
        foreach (var slot in slots)
        {
            var technicians = slot.For(service).Where(t => active.Contains(t.StaffId!)).ToList();
            if (technicians.Count == 0)
                continue;
            var capacity = technicians.Sum(t => t.Places);
            var remaining = technicians.Sum(t => Math.Max(0, t.Places - booked.GetValueOrDefault((slot.StartsAt.ToUnixTimeMilliseconds(), t.StaffId!))));
            result.Add(new SlotDto(slot.StartsAt, slot.EndsAt, slot.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), slot.Time.ToString("HH:mm", CultureInfo.InvariantCulture),
                capacity, remaining, names is null ? null : technicians.Select(t => new SlotTechnicianDto(t.StaffId!, names.GetValueOrDefault(t.StaffId!) ?? "", t.Places,
                    booked.GetValueOrDefault((slot.StartsAt.ToUnixTimeMilliseconds(), t.StaffId!)))).ToList()));
        }
        return new SlotsDto(store.Id, store.Name, store.TimeZone, schedule.Slot,
            (schedule.Services ?? []).Select(s => new ServiceDto(s.Key!, s.Label!["zh-CN"], s.Label.GetValueOrDefault("en"))).ToList(), result);
    }

    /// <summary>Why the caller may not book or move into a slot now (null: they may).</summary>
    private string? Bookable(CurrentUser user, ScheduleDefinition schedule, StoreRow store, DateTimeOffset startsAt)
    {
        var now = clock.GetUtcNow();
        if (startsAt <= now)
            return Texts.Get(user.Language, "appointment_slot_passed");
        if (!user.IsCustomer)
            return null;
        if (startsAt < now.AddMinutes(schedule.MinNotice))
            return Texts.Get(user.Language, "appointment_min_notice", ("time", Duration(user, schedule.MinNotice)));
        if (AppointmentSchedule.LocalDate(store, startsAt) > AppointmentSchedule.LocalDate(store, now).AddDays(schedule.DaysAhead))
            return Texts.Get(user.Language, "appointment_days_ahead", ("days", schedule.DaysAhead.ToString(CultureInfo.InvariantCulture)));
        return null;
    }

    private static string Duration(CurrentUser user, int minutes) => minutes % 60 == 0
        ? Texts.Get(user.Language, "duration_hours", ("n", (minutes / 60).ToString(CultureInfo.InvariantCulture)))
        : Texts.Get(user.Language, "duration_minutes", ("n", minutes.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The technicians of the slot for the service who still work in the store; staff may name one of them.</summary>
    private static IReadOnlyList<TechnicianDef> TechniciansFor(CurrentUser user, AppointmentSchedule.Slot slot, string service, string? technicianId, IReadOnlySet<string> active)
    {
        var technicians = slot.For(service).Where(t => active.Contains(t.StaffId!)).ToList();
        if (technicianId is null || user.IsCustomer)
            return technicians.Count > 0 ? technicians : throw Refused(user, "appointment_full");
        return technicians.Where(t => t.StaffId == technicianId).ToList() is { Count: > 0 } chosen ? chosen
            : throw ApiException.Invalid("technician_id takes this service in this slot.");
    }

    private async Task<ScheduleDefinition?> ScheduleAsync(string storeId, CancellationToken ct)
    {
        var json = await db.QuerySingleOrDefaultAsync<string>("SELECT definition FROM appointment_schedules WHERE store_id = @storeId", new { storeId }, ct);
        return json is null ? null : Parse(json);
    }

    private static ScheduleDefinition Parse(string json) => JsonSerializer.Deserialize<ScheduleDefinition>(json, ProtocolJson.Options)!;

    private static DateOnly? Date(Validation v, string field, string? value, DateOnly earliest, DateOnly latest)
    {
        if (value is null)
            return null;
        if (!DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            v.Add(field, "A local date of the store: yyyy-MM-dd.");
        else if (date < earliest || date > latest)
            v.Add(field, $"A local date of the store from {earliest:yyyy-MM-dd} to {latest:yyyy-MM-dd}.");
        else
            return date;
        return null;
    }

    /// <summary>Booked places per (slot start, technician) among the given slots.</summary>
    private async Task<Dictionary<(long, string), int>> BookedAsync(string storeId, IReadOnlyList<AppointmentSchedule.Slot> slots, CancellationToken ct)
    {
        if (slots.Count == 0)
            return [];
        var rows = await db.QueryAsync<(long StartsAt, string TechnicianId, long Count)>("""
            SELECT starts_at, technician_id, COUNT(*) FROM appointments
            WHERE store_id = @storeId AND status = 'booked' AND starts_at >= @first AND starts_at <= @last
            GROUP BY starts_at, technician_id
            """, new { storeId, first = slots.Min(s => s.StartsAt).ToUnixTimeMilliseconds(), last = slots.Max(s => s.StartsAt).ToUnixTimeMilliseconds() }, ct);
        return rows.ToDictionary(r => (r.StartsAt, r.TechnicianId), r => (int)r.Count);
    }
}
