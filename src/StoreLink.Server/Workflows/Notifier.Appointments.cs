using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Appointments reach the chat the way work items do: a notice row written in the change's transaction (one per
/// appointment, so changes during quiet hours merge into one card), reminder rows before the slot, both delivered by
/// the same loop, both idempotent by their id as the card's <c>client_msg_id</c>.
/// </summary>
public sealed partial class Notifier
{
    /// <summary>Schedules the appointment's next card, inside the transaction of the change.</summary>
    public async Task ScheduleAppointmentCardAsync(DbConnection c, DbTransaction t, string appointmentId, DateTimeOffset dueAt)
    {
        await c.ExecuteAsync($"""
            INSERT INTO appointment_notices (appointment_id, id, due_at, created_at) VALUES (@appointmentId, @id, @due, @now)
            ON CONFLICT (appointment_id) DO UPDATE SET id = excluded.id, due_at = {db.Dialect.Least("appointment_notices.due_at", "excluded.due_at")}
            """, new { appointmentId, id = Ids.New("ntc", clock), due = dueAt.ToUnixTimeMilliseconds(), now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);
    }

    /// <summary>Replaces the appointment's reminders (none for an appointment that is no longer booked).</summary>
    public async Task ScheduleAppointmentRemindersAsync(DbConnection c, DbTransaction t, string appointmentId, long startsAt, IReadOnlyList<DateTimeOffset> times)
    {
        await c.ExecuteAsync("DELETE FROM appointment_reminders WHERE appointment_id = @appointmentId", new { appointmentId }, t);
        foreach (var due in times)
            await c.ExecuteAsync("INSERT INTO appointment_reminders (id, appointment_id, starts_at, due_at) VALUES (@id, @appointmentId, @startsAt, @due)",
                new { id = Ids.New("rmd", clock), appointmentId, startsAt, due = due.ToUnixTimeMilliseconds() }, t);
    }

    private async Task<int> DeliverAppointmentsDueAsync(long now, CancellationToken ct)
    {
        var delivered = 0;
        var notices = await db.QueryAsync<(string AppointmentId, string Id)>(
            "SELECT appointment_id, id FROM appointment_notices WHERE due_at <= @now ORDER BY due_at LIMIT 200", new { now }, ct);
        foreach (var (appointmentId, id) in notices)
        {
            try
            {
                var facts = await AppointmentFactsAsync(appointmentId, ct);
                var conversation = await AppointmentConversationAsync(facts.Appointment, ct);
                await router.PostAsync(conversation, MessageKinds.Card,
                    AppointmentCard(facts, clock.GetUtcNow(), reminder: false, await router.LanguageAsync(conversation, ct)), ct, clientMsgId: id);
                await db.ExecuteAsync("DELETE FROM appointment_notices WHERE appointment_id = @appointmentId AND id = @id", new { appointmentId, id }, ct);
                delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Card {Notice} of appointment {Appointment} not delivered; retried on the next round", id, appointmentId);
            }
        }
        var reminders = await db.QueryAsync<(string Id, string AppointmentId, long StartsAt)>(
            "SELECT id, appointment_id, starts_at FROM appointment_reminders WHERE due_at <= @now ORDER BY due_at LIMIT 200", new { now }, ct);
        foreach (var reminder in reminders)
        {
            try
            {
                if (await DeliverAppointmentReminderAsync(reminder.Id, reminder.AppointmentId, reminder.StartsAt, ct))
                    delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Reminder {Reminder} of appointment {Appointment} not delivered; retried on the next round", reminder.Id, reminder.AppointmentId);
            }
        }
        return delivered;
    }

    private async Task<bool> DeliverAppointmentReminderAsync(string reminderId, string appointmentId, long startsAt, CancellationToken ct)
    {
        var facts = await AppointmentFactsAsync(appointmentId, ct);
        var appointment = facts.Appointment;
        var now = clock.GetUtcNow();
        var sent = false;
        // A reminder of a slot the appointment left (moved, cancelled, done) or that has begun is void.
        if (appointment.Status == AppointmentStatuses.Booked && appointment.StartsAt == startsAt && now.ToUnixTimeMilliseconds() < startsAt)
        {
            var due = DueAt(facts.Store, now, urgent: false);
            if (due > now && due.ToUnixTimeMilliseconds() < startsAt)
            {
                // Quiet hours began after it was scheduled (the store changed them): it waits for their end.
                await db.ExecuteAsync("UPDATE appointment_reminders SET due_at = @due WHERE id = @reminderId", new { due = due.ToUnixTimeMilliseconds(), reminderId }, ct);
                return false;
            }
            if (due == now)
            {
                var conversation = await AppointmentConversationAsync(appointment, ct);
                await router.PostAsync(conversation, MessageKinds.Card, AppointmentCard(facts, now, reminder: true, await router.LanguageAsync(conversation, ct)), ct,
                    clientMsgId: reminderId);
                sent = true;
            }
        }
        await db.ExecuteAsync("DELETE FROM appointment_reminders WHERE id = @reminderId", new { reminderId }, ct);
        return sent;
    }

    private async Task<ConversationFacts> AppointmentConversationAsync(AppointmentRow appointment, CancellationToken ct)
    {
        var facts = await ConversationAsync(appointment.OrgId, appointment.StoreId, appointment.CustomerId, appointment.ConversationId, ct);
        await db.ExecuteAsync("UPDATE appointments SET conversation_id = @id WHERE id = @appointmentId AND conversation_id IS NULL",
            new { id = facts.Id, appointmentId = appointment.Id }, ct);
        return facts;
    }

    /// <summary>What a card shows: the appointment, its store and schedule, names, and its latest change.</summary>
    public sealed record AppointmentFacts(
        AppointmentRow Appointment, StoreRow Store, ScheduleDefinition Schedule, string? TechnicianName, string? WorkItemNumber, string LastKind, JsonElement LastData);

    public async Task<AppointmentFacts> AppointmentFactsAsync(string appointmentId, CancellationToken ct)
    {
        var appointment = (await db.QuerySingleOrDefaultAsync<AppointmentRow>($"SELECT {AppointmentRow.Columns} FROM appointments WHERE id = @appointmentId", new { appointmentId }, ct))!;
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = appointment.StoreId }, ct))!;
        var definition = await db.QuerySingleOrDefaultAsync<string>("SELECT definition FROM appointment_schedules WHERE store_id = @id", new { id = store.Id }, ct);
        var schedule = definition is null ? new ScheduleDefinition(null, null, null, null, null, null, null, null, null)
            : JsonSerializer.Deserialize<ScheduleDefinition>(definition, ProtocolJson.Options)!;
        var technician = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM staff WHERE id = @id", new { id = appointment.TechnicianId }, ct);
        var number = appointment.WorkItemId is null ? null
            : await db.QuerySingleOrDefaultAsync<string>("SELECT number FROM work_items WHERE id = @id", new { id = appointment.WorkItemId }, ct);
        var (kind, data) = await db.QuerySingleOrDefaultAsync<(string, string)>(
            "SELECT kind, data FROM appointment_events WHERE appointment_id = @appointmentId ORDER BY seq DESC LIMIT 1", new { appointmentId }, ct);
        return new AppointmentFacts(appointment, store, schedule, technician, number, kind ?? "booked", JsonSerializer.Deserialize<JsonElement>(data ?? "{}"));
    }

    /// <summary>The actions the customer may take now: 改约 until the store's cut-off before the slot, 取消 until it begins.</summary>
    public static IReadOnlyList<string> AppointmentActions(AppointmentRow appointment, ScheduleDefinition schedule, DateTimeOffset now)
    {
        if (appointment.Status != AppointmentStatuses.Booked)
            return [];
        var actions = new List<string>();
        var ms = now.ToUnixTimeMilliseconds();
        if (ms < appointment.StartsAt - schedule.ChangeCutoff * 60_000L)
            actions.Add("reschedule");
        if (ms < appointment.StartsAt)
            actions.Add("cancel");
        return actions;
    }

    /// <summary>
    /// The card, in the customer's <paramref name="language"/>: the state first, the time, the store, who serves, the
    /// linked work item, and 改约 / 取消 while allowed.
    /// </summary>
    public static object AppointmentCard(AppointmentFacts facts, DateTimeOffset now, bool reminder, string language)
    {
        var a = facts.Appointment;
        string Text(string key) => Texts.Get(language, key);
        var starts = DateTimeOffset.FromUnixTimeMilliseconds(a.StartsAt);
        var ends = DateTimeOffset.FromUnixTimeMilliseconds(a.EndsAt);
        var state = Text(a.Status switch
        {
            AppointmentStatuses.Cancelled => "appointment_cancelled",
            AppointmentStatuses.Completed => "appointment_completed",
            AppointmentStatuses.NoShow => "appointment_no_show",
            _ when facts.LastKind == "moved" => "appointment_moved",
            _ => "appointment_booked",
        });
        var fields = new List<object>
        {
            new { label = Text("card_state"), value = state },
            new { label = Text("appointment_time"), value = AppointmentSchedule.Display(facts.Store, starts, ends, language) },
            new { label = Text("appointment_store"), value = facts.Store.Name },
        };
        if (facts.TechnicianName is not null && a.Status == AppointmentStatuses.Booked)
            fields.Add(new { label = Text("appointment_technician"), value = facts.TechnicianName });
        if (facts.WorkItemNumber is not null)
            fields.Add(new { label = Text("appointment_work_item"), value = facts.WorkItemNumber });
        if (!reminder && facts.LastKind == "moved" && facts.LastData.TryGetProperty("from_starts_at", out var from) && from.TryGetDateTimeOffset(out var fromAt)
            && facts.LastData.TryGetProperty("from_ends_at", out var fromEnd) && fromEnd.TryGetDateTimeOffset(out var fromEndAt))
            fields.Add(new { label = Text("appointment_from"), value = AppointmentSchedule.Display(facts.Store, fromAt, fromEndAt, language) });
        if (a.Status == AppointmentStatuses.Cancelled && facts.LastData.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String)
            fields.Add(new { label = Text("appointment_reason"), value = reason.GetString() });
        if (reminder)
            fields.Add(new { label = Text("appointment_reminder"), value = Text("appointment_reminder_text") });
        return new
        {
            title = Texts.Get(language, reminder ? "appointment_reminder_title" : "appointment_title", ("service", facts.Schedule.ServiceLabel(a.Service, language))),
            fields,
            actions = AppointmentActions(a, facts.Schedule, now).Select(id => new { id, label = Text("appointment_" + id) }).ToList(),
            @ref = new { type = "appointment", id = a.Id },
            state = a.Status,
            starts_at = starts,
            ends_at = ends,
        };
    }
}
