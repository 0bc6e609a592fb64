using System.Globalization;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// Booking, moving, cancelling and closing an appointment.
public sealed partial class AppointmentActions
{
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

        var schedule = await ScheduleAsync(store.Id, ct) ?? throw Refused(user, "appointment_no_schedule");
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
                    : throw Refused(user, "appointment_yours_already");
            (appointment.TechnicianId, appointment.Place) = await TakePlaceAsync(c, t, appointment, technicians) ?? throw Refused(user, "appointment_full");
            await c.ExecuteAsync($"""
                INSERT INTO appointments ({AppointmentRow.Columns}) VALUES (@Id, @OrgId, @StoreId, @CustomerId, @Service, @StartsAt, @EndsAt, @TechnicianId,
                    @Place, @Status, @WorkItemId, @Note, @ConversationId, @Version, @CreatedBy, @CreatedAt, @UpdatedAt)
                """, appointment, t);
            await Timeline.Appointments.AppendAsync(c, t, appointment.Id, Actor.Of(user), "booked", new
            {
                service = appointment.Service, starts_at = slot.StartsAt, ends_at = slot.EndsAt, technician_id = appointment.TechnicianId,
                work_item_id = workItemId, note,
            }, clock.GetUtcNow());
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
        RequireBooked(user, appointment, "move");
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = appointment.StoreId }, ct))!;
        var schedule = await ScheduleAsync(store.Id, ct) ?? throw Refused(user, "appointment_no_schedule");
        if (user.IsCustomer && !Notifier.AppointmentActions(appointment, schedule, clock.GetUtcNow()).Contains("reschedule"))
            throw Refused(user, "appointment_move_cutoff", ("time", Duration(user, schedule.ChangeCutoff)));
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
            RequireBooked(user, current, "move");
            if (current.Version != appointment.Version)
                throw Refused(user, "appointment_changed");
            if (await c.ExecuteScalarAsync<long>("""
                    SELECT COUNT(*) FROM appointments WHERE store_id = @StoreId AND customer_id = @CustomerId AND starts_at = @target AND status = 'booked' AND id <> @Id
                    """, new { current.StoreId, current.CustomerId, target, current.Id }, t) > 0)
                throw Refused(user, "appointment_yours_already");
            var into = new AppointmentRow { Id = current.Id, StoreId = current.StoreId, StartsAt = target, TechnicianId = current.TechnicianId };
            var (technicianId, place) = await TakePlaceAsync(c, t, into, technicians) ?? throw Refused(user, "appointment_full");
            await c.ExecuteAsync("""
                UPDATE appointments SET starts_at = @target, ends_at = @ends, technician_id = @technicianId, place = @place, version = version + 1, updated_at = @now
                WHERE id = @id AND version = @version
                """, new { target, ends = slot.EndsAt.ToUnixTimeMilliseconds(), technicianId, place, now = now.ToUnixTimeMilliseconds(), id = current.Id, version = current.Version }, t);
            await Timeline.Appointments.AppendAsync(c, t, current.Id, Actor.Of(user), "moved", new
            {
                from_starts_at = DateTimeOffset.FromUnixTimeMilliseconds(current.StartsAt), from_ends_at = DateTimeOffset.FromUnixTimeMilliseconds(current.EndsAt),
                starts_at = slot.StartsAt, ends_at = slot.EndsAt, from_technician_id = current.TechnicianId, technician_id = technicianId,
            }, clock.GetUtcNow());
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
        RequireBooked(user, appointment, "cancel");
        if (user.IsCustomer && clock.GetUtcNow().ToUnixTimeMilliseconds() >= appointment.StartsAt)
            throw Refused(user, "appointment_begun");
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = appointment.StoreId }, ct))!;
        var cancelled = await RetryAsync(() => db.InTransactionAsync(async (c, t) =>
        {
            if (key is not null && await ByKeyAsync(c, t, user, key, "cancel", appointment.Id) is not null)
                return false;
            var current = await CurrentAsync(c, t, appointment.Id);
            if (current.Status == AppointmentStatuses.Cancelled)
                return false;
            RequireBooked(user, current, "cancel");
            await c.ExecuteAsync("UPDATE appointments SET status = 'cancelled', version = version + 1, updated_at = @now WHERE id = @id AND status = 'booked'",
                new { id = current.Id, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);
            await Timeline.Appointments.AppendAsync(c, t, current.Id, Actor.Of(user), "cancelled", new { reason }, clock.GetUtcNow());
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
        RequireBooked(user, appointment, "close");
        var changed = await db.InTransactionAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("UPDATE appointments SET status = @status, version = version + 1, updated_at = @now WHERE id = @id AND status = 'booked'",
                    new { status = body.Status, id = appointment.Id, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t) == 0)
                return false;
            await Timeline.Appointments.AppendAsync(c, t, appointment.Id, Actor.Of(user), body.Status, new { }, clock.GetUtcNow());
            await notifier.ScheduleAppointmentRemindersAsync(c, t, appointment.Id, appointment.StartsAt, []);
            return true;
        }, ct);
        if (changed)
            await AfterChangeAsync(appointment.Id, null, ct);
        else if ((await GetAsync(user, appointment.Id, ct)).Status != body.Status)
            throw Refused(user, "appointment_changed");
        return await GetAsync(user, appointment.Id, ct);
    }
}
