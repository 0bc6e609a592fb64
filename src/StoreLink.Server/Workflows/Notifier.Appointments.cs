using System.Data.Common;
using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// The appointment's notices: its card after each change (the scheduler merges changes during quiet hours into one),
/// and reminders before the slot. Both are rendered when delivered, from the appointment as it is then.
/// </summary>
public sealed partial class Notifier
{
    /// <summary>Schedules the appointment's next card, inside the transaction of the change.</summary>
    public Task ScheduleAppointmentCardAsync(DbConnection c, DbTransaction t, string appointmentId, DateTimeOffset dueAt) =>
        ScheduleAsync(c, t, NoticeSubjects.Appointment, appointmentId, NoticeKinds.Card, dueAt);

    /// <summary>Replaces the appointment's reminders (none for an appointment that is no longer booked).</summary>
    public async Task ScheduleAppointmentRemindersAsync(DbConnection c, DbTransaction t, string appointmentId, long startsAt, IReadOnlyList<DateTimeOffset> times)
    {
        await VoidAsync(c, t, NoticeSubjects.Appointment, appointmentId, NoticeKinds.Reminder);
        foreach (var due in times)
            await ScheduleAsync(c, t, NoticeSubjects.Appointment, appointmentId, NoticeKinds.Reminder, due, new AppointmentReminder(startsAt));
    }

    /// <summary>A reminder's payload: the start of the slot it reminds of.</summary>
    private sealed record AppointmentReminder(long StartsAt);

    private async Task<Outcome> DeliverAppointmentAsync(NoticeRow notice, CancellationToken ct)
    {
        var facts = await AppointmentFactsAsync(notice.SubjectId, ct);
        var now = clock.GetUtcNow();
        if (notice.Kind == NoticeKinds.Reminder)
        {
            var appointment = facts.Appointment;
            var startsAt = notice.PayloadAs<AppointmentReminder>().StartsAt;
            // A reminder of a slot the appointment left (moved, cancelled, done) or that has begun is void.
            if (appointment.Status != AppointmentStatuses.Booked || appointment.StartsAt != startsAt || now.ToUnixTimeMilliseconds() >= startsAt)
                return Outcome.Void;
            var due = DueAt(facts.Store, now, urgent: false);
            if (due > now)
                // Quiet hours began after it was scheduled (the store changed them): it waits for their end, unless that is too late.
                return due.ToUnixTimeMilliseconds() < startsAt ? Outcome.Postponed(due) : Outcome.Void;
        }
        var conversation = await AppointmentConversationAsync(facts.Appointment, ct);
        var card = AppointmentCard(facts, now, reminder: notice.Kind == NoticeKinds.Reminder, await posts.LanguageAsync(conversation, ct));
        return Outcome.Posted(await posts.PostAsync(conversation, MessageKinds.Card, card, ct, clientMsgId: notice.Id));
    }

    private async Task<ConversationFacts> AppointmentConversationAsync(AppointmentRow appointment, CancellationToken ct)
    {
        var facts = await posts.ServiceConversationAsync(appointment.OrgId, appointment.StoreId, appointment.CustomerId, appointment.ConversationId, ct);
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
        var last = await Timeline.Appointments.LastAsync(db, appointmentId, ct);
        return new AppointmentFacts(appointment, store, schedule, technician, number, last?.Kind ?? "booked", last?.Data ?? JsonSerializer.Deserialize<JsonElement>("{}"));
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
