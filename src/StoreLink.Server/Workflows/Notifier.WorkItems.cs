using System.Data.Common;
using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// The work item's notices: its card after each change the customer hears of, and a reminder while it stays in a
/// state that has one (an unpaid order). Both are rendered when delivered, from the item as it is then.
/// </summary>
public sealed partial class Notifier
{
    /// <summary>Schedules the item's next card, inside the transaction of the change.</summary>
    public Task ScheduleCardAsync(DbConnection c, DbTransaction t, string workItemId, StoreRow store, bool urgent) =>
        ScheduleAsync(c, t, NoticeSubjects.WorkItem, workItemId, NoticeKinds.Card, DueAt(store, clock.GetUtcNow(), urgent));

    /// <summary>On entering a state: the earlier state's reminder is void; the new state's (if any) is scheduled.</summary>
    public async Task ScheduleReminderAsync(DbConnection c, DbTransaction t, string workItemId, StateDef state, long enteredAt)
    {
        await VoidAsync(c, t, NoticeSubjects.WorkItem, workItemId, NoticeKinds.Reminder);
        if (state.Reminder is { } reminder)
            await ScheduleAsync(c, t, NoticeSubjects.WorkItem, workItemId, NoticeKinds.Reminder,
                DateTimeOffset.FromUnixTimeMilliseconds(enteredAt + reminder.AfterMinutes * 60_000L), new WorkItemReminder(state.Key!, enteredAt));
    }

    /// <summary>A reminder's payload: the state it reminds of, and when the item entered it (a state entered again is a new stay).</summary>
    private sealed record WorkItemReminder(string State, long EnteredAt);

    private async Task<Outcome> DeliverWorkItemAsync(NoticeRow notice, CancellationToken ct)
    {
        var item = (await db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @id", new { id = notice.SubjectId }, ct))!;
        return notice.Kind == NoticeKinds.Reminder ? await RemindAsync(item, notice, notice.PayloadAs<WorkItemReminder>(), ct) : await PostCardAsync(item, notice, ct);
    }

    private async Task<Outcome> PostCardAsync(WorkItemRow item, NoticeRow notice, CancellationToken ct)
    {
        var definition = (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct))!;
        var templateName = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM workflow_templates WHERE id = @id", new { id = item.TemplateId }, ct);
        var requests = await db.QueryAsync<RequestRow>($"SELECT {RequestRow.Columns} FROM work_item_requests WHERE work_item_id = @workItemId ORDER BY created_at, id",
            new { workItemId = item.Id }, ct);
        var assignee = item.AssigneeId is null ? null
            : await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM staff WHERE id = @id", new { id = item.AssigneeId }, ct);
        var conversation = await ConversationAsync(item, ct);

        // The photos of a pending request go first, as the technician's own image messages (once each).
        foreach (var request in requests.Where(r => r.Status == "pending"))
        {
            var photos = request.AttachmentList;
            for (var i = 0; i < photos.Count; i++)
                await posts.PostAsAsync(conversation, request.CreatedBy, "staff", MessageKinds.Image, photos[i], $"{request.Id}:{i}", ct);
        }
        var card = Card(item, definition, templateName ?? definition.Name!, requests, assignee, await posts.LanguageAsync(conversation, ct));
        return Outcome.Posted(await posts.PostAsync(conversation, MessageKinds.Card, card, ct, clientMsgId: notice.Id));
    }

    private async Task<Outcome> RemindAsync(WorkItemRow item, NoticeRow notice, WorkItemReminder reminder, CancellationToken ct)
    {
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = item.StoreId }, ct))!;
        var now = clock.GetUtcNow();
        var due = DueAt(store, now, urgent: false);
        if (due > now)
            return Outcome.Postponed(due); // reminders wait for the end of quiet hours too
        if (item.State != reminder.State || item.StateEnteredAt != reminder.EnteredAt)
            return Outcome.Void;
        var definition = (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct))!;
        if (definition.State(reminder.State)?.Reminder is not { } text)
            return Outcome.Void;
        var conversation = await ConversationAsync(item, ct);
        return Outcome.Posted(await posts.PostSystemAsync(conversation,
            language => text.TextIn(language)!.Replace("{number}", item.CustomerNumber).Replace("{title}", item.Title), ct, clientMsgId: notice.Id));
    }

    /// <summary>
    /// The card, in the customer's <paramref name="language"/>: the customer-facing state, who is responsible, the next
    /// step, and the actions available now. Labels and ids keep their places whatever the language.
    /// </summary>
    public static object Card(WorkItemRow item, TemplateDefinition definition, string templateName, IReadOnlyList<RequestRow> requests, string? assigneeName,
        string language)
    {
        var state = definition.State(item.State)!;
        string Text(string key) => Texts.Get(language, key);
        var fields = new List<object> { new { label = Text("card_state"), value = state.CustomerText(language) }, new { label = Text("card_item"), value = item.Title } };
        var responsible = assigneeName ?? TeamName(item.Team, language);
        if (responsible is not null)
            fields.Add(new { label = Text("card_responsible"), value = responsible });
        if (state.NextStepText(language) is { } next)
            fields.Add(new { label = Text("card_next_step"), value = next });
        if (item.FieldMap.TryGetValue("address", out var address) && address.ValueKind == JsonValueKind.String)
            fields.Add(new { label = Text("card_address"), value = address.GetString() });
        var pending = requests.Where(r => r.Status == "pending").ToList();
        foreach (var request in pending)
            fields.Add(new { label = Text("card_pending"), value = request.Display });
        return new
        {
            title = $"{templateName} {item.CustomerNumber}",
            fields,
            actions = CustomerActions(state, pending, language).Select(a => new { id = a.Id, label = a.Label }).ToList(),
            @ref = new { type = "work_item", id = item.Id },
            state = item.State,
            attachment_ids = pending.SelectMany(r => r.AttachmentList).ToList(),
        };
    }

    /// <summary>What the customer may do now, in their language: decide each pending request, then the state's own actions.</summary>
    public static List<CustomerActionDto> CustomerActions(StateDef state, IEnumerable<RequestRow> pending, string language) =>
        pending.SelectMany(r => new[]
        {
            new CustomerActionDto($"approve:{r.Id}", Texts.Get(language, "card_approve", ("title", r.Title)), null),
            new CustomerActionDto($"decline:{r.Id}", Texts.Get(language, "card_decline"), null),
        }).Concat((state.Actions ?? []).Select(a => new CustomerActionDto(a.Key!, a.Text(language), a.Needs))).ToList();

    public static string? TeamName(string? team, string language) => team switch
    {
        Roles.Technician => Texts.Get(language, "team_technician"),
        Roles.Agent => Texts.Get(language, "team_agent"),
        Roles.Manager => Texts.Get(language, "team_manager"),
        _ => null,
    };

    /// <summary>
    /// The service conversation the item talks in: the one it was created from, else the customer's latest with the
    /// store (a new one when there is none).
    /// </summary>
    public async Task<ConversationFacts> ConversationAsync(WorkItemRow item, CancellationToken ct)
    {
        var facts = await posts.ServiceConversationAsync(item.OrgId, item.StoreId, item.CustomerId, item.ConversationId, ct);
        await db.ExecuteAsync("UPDATE work_items SET conversation_id = @id WHERE id = @itemId AND conversation_id IS NULL", new { id = facts.Id, itemId = item.Id }, ct);
        return facts;
    }
}
