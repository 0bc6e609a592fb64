using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Appointments: the schedule a manager keeps, the slots it offers, and booking, moving and cancelling by the customer
/// (from the chat) or by staff. Every change is one transaction that takes or frees a place, appends to the
/// appointment's timeline and schedules the customer's card and reminders (see <see cref="Notifier"/>); the technician
/// and the store's managers get an <c>appointment</c> push once it has committed. A place is a row under a unique
/// index, so the last place of a slot is taken once whatever the isolation level and however many ask at once.
/// </summary>
public sealed class AppointmentActions(Db db, Access access, Notifier notifier, IEventBus bus, TimeProvider clock)
{
    private const int MaxAttempts = 6;
    private const string Full = "该时段已约满，请选择其他时段。/ This slot is fully booked; choose another.";

    private sealed record Actor(string Id, string Kind, string Name);

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

    /// <summary>
    /// Books a slot: the customer for themselves, staff and API keys for a customer. Idempotent by
    /// <c>idempotency_key</c>, and without one by the rule that a customer holds one appointment per slot: a double tap
    /// answers the first booking (<c>Created</c> false). The last place goes to one caller; the others get <c>409</c>.
    /// </summary>
    public async Task<(AppointmentDto Appointment, bool Created)> BookAsync(CurrentUser user, BookAppointmentRequest body, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsWrite);
        StoreRow store;
        string customerId;
        if (user.IsCustomer)
        {
            store = await StoreForAsync(user, body.StoreKey, null, ct);
            customerId = user.Id;
        }
        else
        {
            store = await StoreForAsync(user, body.StoreKey, body.StoreId, ct);
            customerId = (await access.CustomerAsync(user, body.CustomerId ?? "", ct)).Id;
        }
        var v = new Validation();
        var key = v.MaxLength("idempotency_key", body.IdempotencyKey, 100);
        var note = v.MaxLength("note", body.Note, 500);
        v.ThrowIfAny();
        if (key is not null && await ByKeyAsync(user, key, "book", null, ct) is { } earlier)
            return (await GetAsync(user, earlier, ct), false);

        var schedule = await ScheduleAsync(store.Id, ct) ?? throw ApiException.Conflict("该门店暂未开放预约。/ This store does not take appointments.");
        if (schedule.Service(body.Service) is null)
            v.Add("service", "One of the store's services: " + string.Join(", ", (schedule.Services ?? []).Select(s => s.Key)) + ".");
        if (body.StartsAt is null)
            v.Add("starts_at", "Required: the start of a slot (from GET /v1/appointment-slots).");
        v.ThrowIfAny();
        var slot = AppointmentSchedule.SlotAt(schedule, store, body.StartsAt!.Value)
            ?? throw ApiException.Invalid("starts_at is not the start of a slot of the store's schedule.");
        if (Bookable(user, schedule, store, slot.StartsAt) is { } refusal)
            throw ApiException.Conflict(refusal);
        var technicians = TechniciansFor(user, slot, body.Service!, body.TechnicianId, await ActiveStaffAsync(store, ct));
        string? workItemId = null;
        if (body.WorkItemId is not null)
        {
            var item = await access.WorkItemAsync(user, body.WorkItemId, ct);
            if (item.CustomerId != customerId || item.StoreId != store.Id)
                throw ApiException.Invalid("work_item_id is a work item of this customer at this store.");
            workItemId = item.Id;
        }
        var conversationId = await ConversationIdAsync(user, body.ConversationId, customerId, store.Id, ct);

        var now = clock.GetUtcNow();
        var appointment = new AppointmentRow
        {
            Id = Ids.New("apt", clock), OrgId = store.OrgId, StoreId = store.Id, CustomerId = customerId, Service = body.Service!,
            StartsAt = slot.StartsAt.ToUnixTimeMilliseconds(), EndsAt = slot.EndsAt.ToUnixTimeMilliseconds(), Status = AppointmentStatuses.Booked,
            WorkItemId = workItemId, Note = note, ConversationId = conversationId, Version = 1, CreatedBy = user.Id,
            CreatedAt = now.ToUnixTimeMilliseconds(), UpdatedAt = now.ToUnixTimeMilliseconds(),
        };
        var (id, created) = await RetryAsync(() => db.InTransactionAsync(async (c, t) =>
        {
            if (key is not null && await ByKeyAsync(c, t, user, key, "book", null) is { } done)
                return (done, false);
            var held = await c.QuerySingleOrDefaultAsync<(string Id, string Service)?>("""
                SELECT id, service FROM appointments WHERE store_id = @StoreId AND customer_id = @CustomerId AND starts_at = @StartsAt AND status = 'booked'
                """, appointment, t);
            if (held is { } h)
                return h.Service == appointment.Service ? (h.Id, false)
                    : throw ApiException.Conflict("您在该时段已有预约。/ You already have an appointment in this slot.");
            (appointment.TechnicianId, appointment.Place) = await TakePlaceAsync(c, t, appointment, technicians) ?? throw ApiException.Conflict(Full);
            await c.ExecuteAsync($"""
                INSERT INTO appointments ({AppointmentRow.Columns}) VALUES (@Id, @OrgId, @StoreId, @CustomerId, @Service, @StartsAt, @EndsAt, @TechnicianId,
                    @Place, @Status, @WorkItemId, @Note, @ConversationId, @Version, @CreatedBy, @CreatedAt, @UpdatedAt)
                """, appointment, t);
            await AppendAsync(c, t, appointment.Id, ActorOf(user), "booked", new
            {
                service = appointment.Service, starts_at = slot.StartsAt, ends_at = slot.EndsAt, technician_id = appointment.TechnicianId,
                work_item_id = workItemId, note,
            });
            if (key is not null)
                await RecordKeyAsync(c, t, user, key, appointment.Id, "book");
            await notifier.ScheduleAppointmentCardAsync(c, t, appointment.Id, CardDue(user, store, appointment.StartsAt));
            await notifier.ScheduleAppointmentRemindersAsync(c, t, appointment.Id, appointment.StartsAt,
                AppointmentSchedule.ReminderTimes(schedule, store, slot.StartsAt, now));
            return (appointment.Id, true);
        }, ct));
        if (created)
            await AfterChangeAsync(id, null, ct);
        return (await GetAsync(user, id, ct), created);
    }

    /// <summary>Moves a booked appointment to another slot (the same technician when they have a place there).</summary>
    public async Task<AppointmentDto> MoveAsync(CurrentUser user, string appointmentId, MoveAppointmentRequest body, CancellationToken ct)
    {
        var appointment = await WritableAsync(user, appointmentId, ct);
        var v = new Validation();
        var key = v.MaxLength("action_id", body.ActionId, 100);
        if (body.StartsAt is null)
            v.Add("starts_at", "Required: the start of the new slot (from GET /v1/appointment-slots).");
        v.ThrowIfAny();
        if (key is not null && await ByKeyAsync(user, key, "move", appointment.Id, ct) is not null)
            return await GetAsync(user, appointment.Id, ct);
        var target = body.StartsAt!.Value.ToUnixTimeMilliseconds();
        if (Done(appointment, target, body.TechnicianId))
            return await GetAsync(user, appointment.Id, ct); // a double tap: moved there already
        RequireBooked(appointment, "改约 / moved");
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = appointment.StoreId }, ct))!;
        var schedule = await ScheduleAsync(store.Id, ct) ?? throw ApiException.Conflict("该门店暂未开放预约。/ This store does not take appointments.");
        if (user.IsCustomer && !Notifier.AppointmentActions(appointment, schedule, clock.GetUtcNow()).Contains("reschedule"))
            throw ApiException.Conflict($"距预约开始已不足 {Hours(schedule.ChangeCutoff)}，无法在线改约，请联系门店。/ Too close to the appointment to move it online; please contact the store.");
        var slot = AppointmentSchedule.SlotAt(schedule, store, body.StartsAt.Value)
            ?? throw ApiException.Invalid("starts_at is not the start of a slot of the store's schedule.");
        if (Bookable(user, schedule, store, slot.StartsAt) is { } refusal)
            throw ApiException.Conflict(refusal);
        var technicians = TechniciansFor(user, slot, appointment.Service, body.TechnicianId, await ActiveStaffAsync(store, ct));
        var now = clock.GetUtcNow();
        var previousTechnician = appointment.TechnicianId;
        var moved = await RetryAsync(() => db.InTransactionAsync(async (c, t) =>
        {
            if (key is not null && await ByKeyAsync(c, t, user, key, "move", appointment.Id) is not null)
                return false;
            var current = await CurrentAsync(c, t, appointment.Id);
            if (Done(current, target, body.TechnicianId))
                return false;
            RequireBooked(current, "改约 / moved");
            if (current.Version != appointment.Version)
                throw ApiException.Conflict("该预约刚刚有变动，请刷新后再试。/ The appointment changed meanwhile; look at it again.");
            if (await c.ExecuteScalarAsync<long>("""
                    SELECT COUNT(*) FROM appointments WHERE store_id = @StoreId AND customer_id = @CustomerId AND starts_at = @target AND status = 'booked' AND id <> @Id
                    """, new { current.StoreId, current.CustomerId, target, current.Id }, t) > 0)
                throw ApiException.Conflict("您在该时段已有预约。/ You already have an appointment in this slot.");
            var into = new AppointmentRow { Id = current.Id, StoreId = current.StoreId, StartsAt = target, TechnicianId = current.TechnicianId };
            var (technicianId, place) = await TakePlaceAsync(c, t, into, technicians) ?? throw ApiException.Conflict(Full);
            await c.ExecuteAsync("""
                UPDATE appointments SET starts_at = @target, ends_at = @ends, technician_id = @technicianId, place = @place, version = version + 1, updated_at = @now
                WHERE id = @id AND version = @version
                """, new { target, ends = slot.EndsAt.ToUnixTimeMilliseconds(), technicianId, place, now = now.ToUnixTimeMilliseconds(), id = current.Id, version = current.Version }, t);
            await AppendAsync(c, t, current.Id, ActorOf(user), "moved", new
            {
                from_starts_at = DateTimeOffset.FromUnixTimeMilliseconds(current.StartsAt), from_ends_at = DateTimeOffset.FromUnixTimeMilliseconds(current.EndsAt),
                starts_at = slot.StartsAt, ends_at = slot.EndsAt, from_technician_id = current.TechnicianId, technician_id = technicianId,
            });
            if (key is not null)
                await RecordKeyAsync(c, t, user, key, current.Id, "move");
            await notifier.ScheduleAppointmentCardAsync(c, t, current.Id, CardDue(user, store, Math.Min(current.StartsAt, target)));
            await notifier.ScheduleAppointmentRemindersAsync(c, t, current.Id, target, AppointmentSchedule.ReminderTimes(schedule, store, slot.StartsAt, now));
            return true;
        }, ct));
        if (moved)
            await AfterChangeAsync(appointment.Id, previousTechnician, ct);
        return await GetAsync(user, appointment.Id, ct);
    }

    /// <summary>Cancels a booked appointment: the customer until the slot begins, staff any time. Cancelling twice answers the same.</summary>
    public async Task<AppointmentDto> CancelAsync(CurrentUser user, string appointmentId, CancelAppointmentRequest body, CancellationToken ct)
    {
        var appointment = await WritableAsync(user, appointmentId, ct);
        var v = new Validation();
        var key = v.MaxLength("action_id", body.ActionId, 100);
        var reason = v.MaxLength("reason", body.Reason, 200);
        v.ThrowIfAny();
        if ((key is not null && await ByKeyAsync(user, key, "cancel", appointment.Id, ct) is not null) || appointment.Status == AppointmentStatuses.Cancelled)
            return await GetAsync(user, appointment.Id, ct);
        RequireBooked(appointment, "取消 / cancelled");
        if (user.IsCustomer && clock.GetUtcNow().ToUnixTimeMilliseconds() >= appointment.StartsAt)
            throw ApiException.Conflict("预约时间已到，无法在线取消，请联系门店。/ The appointment has begun; please contact the store.");
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = appointment.StoreId }, ct))!;
        var cancelled = await RetryAsync(() => db.InTransactionAsync(async (c, t) =>
        {
            if (key is not null && await ByKeyAsync(c, t, user, key, "cancel", appointment.Id) is not null)
                return false;
            var current = await CurrentAsync(c, t, appointment.Id);
            if (current.Status == AppointmentStatuses.Cancelled)
                return false;
            RequireBooked(current, "取消 / cancelled");
            await c.ExecuteAsync("UPDATE appointments SET status = 'cancelled', version = version + 1, updated_at = @now WHERE id = @id AND status = 'booked'",
                new { id = current.Id, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);
            await AppendAsync(c, t, current.Id, ActorOf(user), "cancelled", new { reason });
            if (key is not null)
                await RecordKeyAsync(c, t, user, key, current.Id, "cancel");
            await notifier.ScheduleAppointmentCardAsync(c, t, current.Id, CardDue(user, store, current.StartsAt));
            await notifier.ScheduleAppointmentRemindersAsync(c, t, current.Id, current.StartsAt, []);
            return true;
        }, ct));
        if (cancelled)
            await AfterChangeAsync(appointment.Id, null, ct);
        return await GetAsync(user, appointment.Id, ct);
    }

    /// <summary>Staff close a booked appointment: the customer came (<c>completed</c>) or not (<c>no_show</c>). No card.</summary>
    public async Task<AppointmentDto> SetStatusAsync(CurrentUser user, string appointmentId, AppointmentStatusRequest body, CancellationToken ct)
    {
        var appointment = await WritableAsync(user, appointmentId, ct);
        if (user.IsCustomer)
            throw ApiException.Forbidden("The store records whether the customer came.");
        if (body.Status is not (AppointmentStatuses.Completed or AppointmentStatuses.NoShow))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["status"] = ["completed or no_show."] });
        if (appointment.Status == body.Status)
            return await GetAsync(user, appointment.Id, ct);
        RequireBooked(appointment, "关闭 / closed");
        var changed = await db.InTransactionAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("UPDATE appointments SET status = @status, version = version + 1, updated_at = @now WHERE id = @id AND status = 'booked'",
                    new { status = body.Status, id = appointment.Id, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t) == 0)
                return false;
            await AppendAsync(c, t, appointment.Id, ActorOf(user), body.Status, new { });
            await notifier.ScheduleAppointmentRemindersAsync(c, t, appointment.Id, appointment.StartsAt, []);
            return true;
        }, ct);
        if (changed)
            await AfterChangeAsync(appointment.Id, null, ct);
        else if ((await GetAsync(user, appointment.Id, ct)).Status != body.Status)
            throw ApiException.Conflict("该预约刚刚有变动，请刷新后再试。/ The appointment changed meanwhile; look at it again.");
        return await GetAsync(user, appointment.Id, ct);
    }

    public async Task<AppointmentDto> GetAsync(CurrentUser user, string appointmentId, CancellationToken ct) =>
        (await ViewAsync(user, [await access.AppointmentAsync(user, appointmentId, ct)], ct))[0];

    /// <summary>Staff: their stores' appointments with filters; customers: their own; API keys: their organization's (or store's).</summary>
    public async Task<IReadOnlyList<AppointmentDto>> ListAsync(CurrentUser user, string? storeId, DateTimeOffset? from, DateTimeOffset? to, string? status,
        string? customerId, string? technicianId, string? workItemId, int? limit, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsRead);
        if (!user.IsCustomer && storeId is not null)
            await access.StoreAsync(user, storeId, ct);
        var where = new List<string> { "org_id = @orgId" };
        if (user.IsCustomer)
            where.Add("customer_id = @me");
        else if (storeId is not null)
            where.Add("store_id = @storeId");
        else if (user.IsStaff && !user.IsOrgAdmin)
            where.Add(db.Dialect.In("store_id", "@stores"));
        else if (user.IsApiClient && user.StoreId is not null)
            where.Add("store_id = @scoped");
        if (from is not null)
            where.Add("starts_at >= @fromMs");
        if (to is not null)
            where.Add("starts_at < @toMs");
        if (status is not null)
            where.Add("status = @status");
        if (customerId is not null && !user.IsCustomer)
            where.Add("customer_id = @customerId");
        if (technicianId is not null)
            where.Add(technicianId == "me" ? "technician_id = @me" : "technician_id = @technicianId");
        if (workItemId is not null)
            where.Add("work_item_id = @workItemId");
        var rows = await db.QueryAsync<AppointmentRow>($"""
            SELECT {AppointmentRow.Columns} FROM appointments WHERE {string.Join(" AND ", where)} ORDER BY starts_at, id LIMIT @take
            """, new
        {
            orgId = user.OrgId, me = user.Id, storeId, fromMs = from?.ToUnixTimeMilliseconds(), toMs = to?.ToUnixTimeMilliseconds(), status, customerId,
            technicianId, workItemId, stores = user.StoreIds.ToArray(), scoped = user.StoreId, take = Math.Clamp(limit ?? 100, 1, 500),
        }, ct);
        var visible = rows.Where(r => user.IsCustomer || (user.IsStaff ? user.HasStoreRole(r.StoreId) : user.StoreId is null || user.StoreId == r.StoreId)).ToList();
        return await ViewAsync(user, visible, ct);
    }

    public async Task<IReadOnlyList<AppointmentEventDto>> EventsAsync(CurrentUser user, string appointmentId, CancellationToken ct)
    {
        var appointment = await access.AppointmentAsync(user, appointmentId, ct);
        return (await db.QueryAsync<(long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt)>(
            "SELECT seq, kind, actor_id, actor_kind, actor_name, data, created_at FROM appointment_events WHERE appointment_id = @id ORDER BY seq",
            new { id = appointment.Id }, ct)).Select(ToDto).ToList();
    }

    private static AppointmentEventDto ToDto((long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt) r) =>
        new(r.Seq, r.Kind, new SenderDto(r.ActorId, r.ActorKind, r.ActorName), JsonSerializer.Deserialize<JsonElement>(r.Data), DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt));

    /// <summary>
    /// Takes the first free place of the slot: the technician asked for (or the one the appointment had), else the least
    /// booked, in the schedule's order. Null when every place is taken. The unique index on places is the last word.
    /// </summary>
    private static async Task<(string TechnicianId, long Place)?> TakePlaceAsync(DbConnection c, DbTransaction t, AppointmentRow into, IReadOnlyList<TechnicianDef> technicians)
    {
        var taken = (await c.QueryAsync<(string TechnicianId, long Place)>("""
            SELECT technician_id, place FROM appointments WHERE store_id = @StoreId AND starts_at = @StartsAt AND status = 'booked' AND id <> @Id
            """, into, t)).ToLookup(p => p.TechnicianId, p => p.Place);
        var order = technicians.Select((technician, index) => (technician, index))
            .OrderBy(x => x.technician.StaffId == into.TechnicianId ? 0 : 1)
            .ThenBy(x => (double)taken[x.technician.StaffId!].Count() / x.technician.Places)
            .ThenBy(x => x.index);
        foreach (var (technician, _) in order)
        {
            var places = taken[technician.StaffId!].ToHashSet();
            for (long place = 1; place <= technician.Places; place++)
                if (!places.Contains(place))
                    return (technician.StaffId!, place);
        }
        return null;
    }

    /// <summary>
    /// Runs a change again when a concurrent one took the same place (or key) first: a unique violation on SQLite or
    /// PostgreSQL, or a serialization failure that outlasted <see cref="Db.InTransactionAsync{T}"/>'s own retries.
    /// </summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> change)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await change();
            }
            catch (Exception e) when (attempt < MaxAttempts && (SqlDialect.IsUniqueViolation(e) || e is Npgsql.PostgresException { SqlState: "40001" or "40P01" }))
            {
                await Task.Delay(Random.Shared.Next(1, 20 * attempt));
            }
        }
    }

    /// <summary>Why the caller may not book or move into a slot now (null: they may).</summary>
    private string? Bookable(CurrentUser user, ScheduleDefinition schedule, StoreRow store, DateTimeOffset startsAt)
    {
        var now = clock.GetUtcNow();
        if (startsAt <= now)
            return "该时段已过。/ This slot has passed.";
        if (!user.IsCustomer)
            return null;
        if (startsAt < now.AddMinutes(schedule.MinNotice))
            return $"请至少提前 {Hours(schedule.MinNotice)}预约。/ Book at least {schedule.MinNotice} minutes ahead.";
        if (AppointmentSchedule.LocalDate(store, startsAt) > AppointmentSchedule.LocalDate(store, now).AddDays(schedule.DaysAhead))
            return $"只能预约 {schedule.DaysAhead} 天内的时段。/ Slots can be booked at most {schedule.DaysAhead} days ahead.";
        return null;
    }

    private static string Hours(int minutes) => minutes % 60 == 0 ? $"{minutes / 60} 小时" : $"{minutes} 分钟";

    /// <summary>The technicians of the slot for the service who still work in the store; staff may name one of them.</summary>
    private static IReadOnlyList<TechnicianDef> TechniciansFor(CurrentUser user, AppointmentSchedule.Slot slot, string service, string? technicianId, IReadOnlySet<string> active)
    {
        var technicians = slot.For(service).Where(t => active.Contains(t.StaffId!)).ToList();
        if (technicianId is null || user.IsCustomer)
            return technicians.Count > 0 ? technicians : throw ApiException.Conflict(Full);
        return technicians.Where(t => t.StaffId == technicianId).ToList() is { Count: > 0 } chosen ? chosen
            : throw ApiException.Invalid("technician_id takes this service in this slot.");
    }

    /// <summary>
    /// When the customer hears of a change: at once when it is their own doing (the answer to their tap); otherwise after
    /// the store's quiet hours, unless that would be less than an hour before the slot.
    /// </summary>
    private DateTimeOffset CardDue(CurrentUser user, StoreRow store, long startsAt)
    {
        var now = clock.GetUtcNow();
        if (user.IsCustomer)
            return now;
        var due = Notifier.DueAt(store, now, urgent: false);
        return due.AddHours(1).ToUnixTimeMilliseconds() > startsAt ? now : due;
    }

    private static bool Done(AppointmentRow appointment, long target, string? technicianId) =>
        appointment.Status == AppointmentStatuses.Booked && appointment.StartsAt == target && (technicianId is null || technicianId == appointment.TechnicianId);

    private static void RequireBooked(AppointmentRow appointment, string what)
    {
        var state = appointment.Status switch
        {
            AppointmentStatuses.Cancelled => "已取消 / cancelled",
            AppointmentStatuses.Completed => "已完成 / completed",
            AppointmentStatuses.NoShow => "已结束 / closed",
            _ => null,
        };
        if (state is not null)
            throw ApiException.Conflict($"该预约{state.Split(" / ")[0]}，不能再{what.Split(" / ")[0]}。/ The appointment is {state.Split(" / ")[1]} and cannot be {what.Split(" / ")[1]}.");
    }

    private async Task<AppointmentRow> WritableAsync(CurrentUser user, string appointmentId, CancellationToken ct)
    {
        var appointment = await access.AppointmentAsync(user, appointmentId, ct);
        user.RequirePermission(Permissions.WorkItemsWrite);
        return appointment;
    }

    private static async Task<AppointmentRow> CurrentAsync(DbConnection c, DbTransaction t, string id) =>
        await c.QuerySingleAsync<AppointmentRow>($"SELECT {AppointmentRow.Columns} FROM appointments WHERE id = @id", new { id }, t);

    /// <summary>A store by key (customers; anyone) or id (staff and API keys), of the caller's organization.</summary>
    private async Task<StoreRow> StoreForAsync(CurrentUser user, string? storeKey, string? storeId, CancellationToken ct)
    {
        if (storeId is not null && !user.IsCustomer)
            return await access.StoreAsync(user, storeId, ct);
        var store = await access.StoreByKeyAsync(storeKey, ct);
        if (store.OrgId != user.OrgId)
            throw ApiException.NotFound("The store");
        if (!user.IsCustomer && !Access.CanSeeStore(user, store))
            throw ApiException.NotFound("The store");
        return store;
    }

    /// <summary>Who may take appointments in the store: staff with a role there (org admins too) whose account is not disabled.</summary>
    private async Task<IReadOnlySet<string>> ActiveStaffAsync(StoreRow store, CancellationToken ct) =>
        (await db.QueryAsync<string>("""
            SELECT DISTINCT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id
            WHERE s.disabled_at IS NULL AND s.org_id = @orgId AND (r.store_id = @storeId OR r.role = 'org_admin')
            """, new { orgId = store.OrgId, storeId = store.Id }, ct)).ToHashSet();

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

    private async Task<Dictionary<string, string>> StaffNamesAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var list = ids.Distinct().ToList();
        return list.Count == 0 ? []
            : (await db.QueryAsync<(string Id, string Name)>($"SELECT id, name FROM staff WHERE {db.Dialect.In("id", "@list")}", new { list }, ct)).ToDictionary(s => s.Id, s => s.Name);
    }

    /// <summary>The conversation the cards go to: the one given (the customer's, with this store), else their open one, else decided at delivery.</summary>
    private async Task<string?> ConversationIdAsync(CurrentUser user, string? conversationId, string customerId, string storeId, CancellationToken ct)
    {
        if (conversationId is not null)
        {
            var conversation = await access.ConversationAsync(user, conversationId, ct);
            if (conversation.Facts.Kind != ConversationKinds.Service || conversation.Facts.CustomerId != customerId || conversation.Facts.StoreId != storeId)
                throw ApiException.Invalid("conversation_id is a service conversation of this customer with this store.");
            return conversation.Facts.Id;
        }
        return await db.QuerySingleOrDefaultAsync<string>(
            "SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId AND state <> 'resolved' ORDER BY updated_at DESC LIMIT 1",
            new { customerId, storeId }, ct);
    }

    /// <summary>
    /// The appointment an earlier use of <paramref name="key"/> by this caller made or changed, or null; a key used with
    /// another action or another appointment is refused (422) rather than answered with an unrelated appointment.
    /// </summary>
    private async Task<string?> ByKeyAsync(CurrentUser user, string key, string action, string? appointmentId, CancellationToken ct) =>
        Matching(await db.QuerySingleOrDefaultAsync<(string AppointmentId, string Action)?>(ByKeySql, new { id = user.Id, key }, ct), action, appointmentId);

    private static async Task<string?> ByKeyAsync(DbConnection c, DbTransaction t, CurrentUser user, string key, string action, string? appointmentId) =>
        Matching(await c.QuerySingleOrDefaultAsync<(string AppointmentId, string Action)?>(ByKeySql, new { id = user.Id, key }, t), action, appointmentId);

    private const string ByKeySql = "SELECT appointment_id, action FROM appointment_actions WHERE actor_id = @id AND action_id = @key";

    private static string? Matching((string AppointmentId, string Action)? used, string action, string? appointmentId) =>
        used is not { } u ? null
        : u.Action == action && (appointmentId is null || u.AppointmentId == appointmentId) ? u.AppointmentId
        : throw new ApiException(ErrorCodes.Unprocessable,
            "This key was used with another appointment or action; use a new key for a new request.");

    private async Task RecordKeyAsync(DbConnection c, DbTransaction t, CurrentUser user, string key, string appointmentId, string action) =>
        await c.ExecuteAsync("INSERT INTO appointment_actions (actor_id, action_id, appointment_id, action, created_at) VALUES (@actor, @key, @appointmentId, @action, @now)",
            new { actor = user.Id, key, appointmentId, action, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);

    private async Task AppendAsync(DbConnection c, DbTransaction t, string appointmentId, Actor actor, string kind, object data) =>
        await c.ExecuteAsync("""
            INSERT INTO appointment_events (appointment_id, seq, kind, actor_id, actor_kind, actor_name, data, created_at)
            VALUES (@appointmentId, (SELECT COALESCE(MAX(seq), 0) + 1 FROM appointment_events WHERE appointment_id = @appointmentId), @kind, @actorId, @actorKind, @actorName, @data, @now)
            """, new
        {
            appointmentId, kind, actorId = actor.Id, actorKind = actor.Kind, actorName = actor.Name,
            data = JsonSerializer.Serialize(data, ProtocolJson.Options), now = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        }, t);

    /// <summary>After commit: deliver the card soon, and tell the technician (and the one it had), the store's managers and org admins.</summary>
    private async Task AfterChangeAsync(string appointmentId, string? previousTechnician, CancellationToken ct)
    {
        notifier.Kick();
        var row = (await db.QuerySingleOrDefaultAsync<AppointmentRow>($"SELECT {AppointmentRow.Columns} FROM appointments WHERE id = @appointmentId", new { appointmentId }, ct))!;
        var last = await db.QuerySingleOrDefaultAsync<(long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt)>(
            "SELECT seq, kind, actor_id, actor_kind, actor_name, data, created_at FROM appointment_events WHERE appointment_id = @appointmentId ORDER BY seq DESC LIMIT 1",
            new { appointmentId }, ct);
        var users = new[] { row.TechnicianId, previousTechnician, last.ActorKind == "staff" ? last.ActorId : null }.OfType<string>().Distinct().ToArray();
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, new Audience(users, ManagersOf: row.StoreId, OrgAdminsOf: row.OrgId),
            Frames.Serialize(new { type = "appointment", appointment = (await ViewAsync(null, [row], ct))[0], @event = ToDto(last) })), ct);
    }

    /// <summary>The DTOs of appointments for a caller (null: the staff view used in pushes).</summary>
    private async Task<IReadOnlyList<AppointmentDto>> ViewAsync(CurrentUser? user, IReadOnlyList<AppointmentRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
            return [];
        var staff = await StaffNamesAsync(rows.Select(r => r.TechnicianId), ct);
        var customerIds = rows.Select(r => r.CustomerId).Distinct().ToList();
        var customers = (await db.QueryAsync<(string Id, string? Name)>($"SELECT id, name FROM customers WHERE {db.Dialect.In("id", "@customerIds")}", new { customerIds }, ct))
            .ToDictionary(c => c.Id, c => c.Name);
        var itemIds = rows.Select(r => r.WorkItemId).OfType<string>().Distinct().ToList();
        var numbers = itemIds.Count == 0 ? []
            : (await db.QueryAsync<(string Id, string Number)>($"SELECT id, number FROM work_items WHERE {db.Dialect.In("id", "@itemIds")}", new { itemIds }, ct)).ToDictionary(i => i.Id, i => i.Number);
        var schedules = new Dictionary<string, ScheduleDefinition>();
        foreach (var storeId in rows.Select(r => r.StoreId).Distinct())
            schedules[storeId] = await ScheduleAsync(storeId, ct) ?? new ScheduleDefinition(null, null, null, null, null, null, null, null, null);
        var now = clock.GetUtcNow();
        return rows.Select(r =>
        {
            var schedule = schedules[r.StoreId];
            IReadOnlyList<string> actions = user is { IsCustomer: true } ? Notifier.AppointmentActions(r, schedule, now)
                : r.Status == AppointmentStatuses.Booked ? ["reschedule", "cancel", AppointmentStatuses.Completed, AppointmentStatuses.NoShow] : [];
            return new AppointmentDto(r.Id, r.StoreId, r.CustomerId, CustomerNames.Display(r.CustomerId, customers.GetValueOrDefault(r.CustomerId)), r.Service,
                schedule.ServiceLabel(r.Service), DateTimeOffset.FromUnixTimeMilliseconds(r.StartsAt), DateTimeOffset.FromUnixTimeMilliseconds(r.EndsAt),
                r.TechnicianId, staff.GetValueOrDefault(r.TechnicianId), r.Status, r.WorkItemId, r.WorkItemId is null ? null : numbers.GetValueOrDefault(r.WorkItemId),
                r.Note, r.ConversationId, (int)r.Version, DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(r.UpdatedAt), actions);
        }).ToList();
    }

    private static Actor ActorOf(CurrentUser user) =>
        new(user.Id, user.IsStaff ? "staff" : user.IsCustomer ? "customer" : "api_client", user.Name);
}
