using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Brings a work item's changes to its customer's chat as cards, and reminders while an item waits for them.
/// Every change writes a notice row in the transaction of the change (so nothing is lost by a crash); the notice is
/// due at once, or at the end of the store's quiet hours unless urgent. One notice per item: updates during quiet
/// hours merge into one card showing the latest state. A notice's id is the card's <c>client_msg_id</c>, so a notice
/// delivered twice (a crash between posting and deleting it, two nodes) is stored once.
/// </summary>
public sealed partial class Notifier(Db db, Templates templates, Router router, MessageWriter writer, ConversationDirectory directory, TimeProvider clock,
    ILogger<Notifier> logger)
{
    private readonly Channel<bool> _kick = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    internal ChannelReader<bool> Kicks => _kick.Reader;

    /// <summary>Deliver what is due now, soon (after the change that scheduled it has committed).</summary>
    public void Kick() => _kick.Writer.TryWrite(true);

    /// <summary>When a card for this store is due: now, or at the end of its quiet hours unless urgent.</summary>
    public static DateTimeOffset DueAt(StoreRow store, DateTimeOffset now, bool urgent)
    {
        if (urgent || store.QuietStart is null || store.QuietEnd is null)
            return now;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone);
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var start = TimeOnly.ParseExact(store.QuietStart, "HH:mm");
        var end = TimeOnly.ParseExact(store.QuietEnd, "HH:mm");
        var time = TimeOnly.FromDateTime(local.DateTime);
        var quiet = start < end ? time >= start && time < end : time >= start || time < end;
        if (!quiet)
            return now;
        var endDay = DateOnly.FromDateTime(local.DateTime);
        if (time >= end)
            endDay = endDay.AddDays(1);
        var endLocal = endDay.ToDateTime(end);
        return new DateTimeOffset(endLocal, zone.GetUtcOffset(endLocal));
    }

    /// <summary>Schedules the item's next card, inside the transaction of the change.</summary>
    public async Task ScheduleCardAsync(DbConnection c, DbTransaction t, string workItemId, StoreRow store, bool urgent)
    {
        var now = clock.GetUtcNow();
        await c.ExecuteAsync($"""
            INSERT INTO work_item_notices (work_item_id, id, due_at, created_at) VALUES (@workItemId, @id, @due, @now)
            ON CONFLICT (work_item_id) DO UPDATE SET id = excluded.id, due_at = {db.Dialect.Least("work_item_notices.due_at", "excluded.due_at")}
            """, new { workItemId, id = Ids.New("ntc", clock), due = DueAt(store, now, urgent).ToUnixTimeMilliseconds(), now = now.ToUnixTimeMilliseconds() }, t);
    }

    /// <summary>On entering a state: the earlier state's reminder is void; the new state's (if any) is scheduled.</summary>
    public async Task ScheduleReminderAsync(DbConnection c, DbTransaction t, string workItemId, StateDef state, long enteredAt)
    {
        await c.ExecuteAsync("DELETE FROM work_item_reminders WHERE work_item_id = @workItemId", new { workItemId }, t);
        if (state.Reminder is { } reminder)
            await c.ExecuteAsync("""
                INSERT INTO work_item_reminders (id, work_item_id, state, entered_at, due_at) VALUES (@id, @workItemId, @state, @enteredAt, @due)
                """, new { id = Ids.New("rmd", clock), workItemId, state = state.Key, enteredAt, due = enteredAt + reminder.AfterMinutes * 60_000L }, t);
    }

    /// <summary>Delivers every notice and reminder that is due. Answers how many went out.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var delivered = 0;
        var notices = await db.QueryAsync<(string WorkItemId, string Id)>(
            "SELECT work_item_id, id FROM work_item_notices WHERE due_at <= @now ORDER BY due_at LIMIT 200", new { now }, ct);
        foreach (var (workItemId, id) in notices)
        {
            try
            {
                await DeliverCardAsync(workItemId, id, ct);
                delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Card {Notice} of work item {WorkItem} not delivered; retried on the next round", id, workItemId);
            }
        }
        var reminders = await db.QueryAsync<(string Id, string WorkItemId, string State, long EnteredAt)>(
            "SELECT id, work_item_id, state, entered_at FROM work_item_reminders WHERE due_at <= @now ORDER BY due_at LIMIT 200", new { now }, ct);
        foreach (var reminder in reminders)
        {
            try
            {
                if (await DeliverReminderAsync(reminder.Id, reminder.WorkItemId, reminder.State, reminder.EnteredAt, ct))
                    delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Reminder {Reminder} not delivered; retried on the next round", reminder.Id);
            }
        }
        delivered += await DeliverAppointmentsDueAsync(now, ct);
        delivered += await DeliverNotificationsDueAsync(now, ct);
        return delivered;
    }

    private async Task DeliverCardAsync(string workItemId, string noticeId, CancellationToken ct)
    {
        var item = (await db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, ct))!;
        var definition = (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct))!;
        var templateName = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM workflow_templates WHERE id = @id", new { id = item.TemplateId }, ct);
        var requests = await db.QueryAsync<RequestRow>($"SELECT {RequestRow.Columns} FROM work_item_requests WHERE work_item_id = @workItemId ORDER BY created_at, id",
            new { workItemId }, ct);
        var assignee = item.AssigneeId is null ? null
            : await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM staff WHERE id = @id", new { id = item.AssigneeId }, ct);
        var conversation = await ConversationAsync(item, ct);

        // The photos of a pending request go first, as the technician's own image messages (once each).
        foreach (var request in requests.Where(r => r.Status == "pending"))
        {
            var photos = request.AttachmentList;
            for (var i = 0; i < photos.Count; i++)
                await PostAsAsync(conversation, request.CreatedBy, "staff", MessageKinds.Image, photos[i], $"{request.Id}:{i}", ct);
        }
        var card = Card(item, definition, templateName ?? definition.Name!, requests, assignee, await router.LanguageAsync(conversation, ct));
        await router.PostAsync(conversation, MessageKinds.Card, card, ct, clientMsgId: noticeId);
        await db.ExecuteAsync("DELETE FROM work_item_notices WHERE work_item_id = @workItemId AND id = @noticeId", new { workItemId, noticeId }, ct);
    }

    private async Task<bool> DeliverReminderAsync(string reminderId, string workItemId, string state, long enteredAt, CancellationToken ct)
    {
        var item = (await db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, ct))!;
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = item.StoreId }, ct))!;
        var now = clock.GetUtcNow();
        var due = DueAt(store, now, urgent: false);
        if (due > now)
        {
            // Reminders wait for the end of quiet hours too.
            await db.ExecuteAsync("UPDATE work_item_reminders SET due_at = @due WHERE id = @reminderId", new { due = due.ToUnixTimeMilliseconds(), reminderId }, ct);
            return false;
        }
        var sent = false;
        if (item.State == state && item.StateEnteredAt == enteredAt)
        {
            var definition = (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct))!;
            if (definition.State(state)?.Reminder is { } reminder)
            {
                var conversation = await ConversationAsync(item, ct);
                var text = reminder.TextIn(await router.LanguageAsync(conversation, ct))!.Replace("{number}", item.CustomerNumber).Replace("{title}", item.Title);
                await router.PostAsync(conversation, MessageKinds.System, new { text }, ct, clientMsgId: reminderId);
                sent = true;
            }
        }
        await db.ExecuteAsync("DELETE FROM work_item_reminders WHERE id = @reminderId", new { reminderId }, ct);
        return sent;
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
        var facts = await ConversationAsync(item.OrgId, item.StoreId, item.CustomerId, item.ConversationId, ct);
        await db.ExecuteAsync("UPDATE work_items SET conversation_id = @id WHERE id = @itemId AND conversation_id IS NULL", new { id = facts.Id, itemId = item.Id }, ct);
        return facts;
    }

    /// <summary>
    /// The customer's service conversation with the store: <paramref name="linkedId"/> if it still exists, else their
    /// latest with the store (a new one when there is none).
    /// </summary>
    public async Task<ConversationFacts> ConversationAsync(string orgId, string storeId, string customerId, string? linkedId, CancellationToken ct)
    {
        if (linkedId is not null && await directory.FactsAsync(linkedId, ct) is { } linked)
            return linked;
        var id = await db.QuerySingleOrDefaultAsync<string>("""
            SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId
            ORDER BY CASE WHEN state = 'resolved' THEN 1 ELSE 0 END, updated_at DESC, id LIMIT 1
            """, new { customerId, storeId }, ct);
        if (id is null)
        {
            id = Ids.New("cnv", clock);
            var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
            await db.InTransactionAsync(async (c, t) =>
            {
                await c.ExecuteAsync("""
                    INSERT INTO conversations (id, org_id, kind, store_id, customer_id, state, created_by, created_at, updated_at)
                    VALUES (@id, @orgId, 'service', @storeId, @customerId, 'resolved', @customerId, @now, @now)
                    """, new { id, orgId, storeId, customerId, now }, t);
                await c.ExecuteAsync("""
                    INSERT INTO conversations (id, org_id, kind, store_id, parent_id, state, created_by, created_at, updated_at)
                    VALUES (@notesId, @orgId, 'notes', @storeId, @id, 'open', @customerId, @now, @now)
                    """, new { notesId = Ids.New("cnv", clock), id, orgId, storeId, customerId, now }, t);
                await c.ExecuteAsync("""
                    INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, joined_at) VALUES (@id, @customerId, 'customer', 1, @now)
                    """, new { id, customerId, now }, t);
            }, ct);
        }
        return (await directory.FactsAsync(id, ct))!;
    }

    /// <summary>A message in someone's name (a technician's photos, a customer's rework photos), stored once per <paramref name="clientMsgId"/>.</summary>
    public async Task PostAsAsync(ConversationFacts conversation, string senderId, string senderKind, string kind, string attachmentId, string clientMsgId, CancellationToken ct)
    {
        var attachment = await db.QuerySingleOrDefaultAsync<AttachmentRow>($"SELECT {AttachmentRow.Columns} FROM attachments WHERE id = @attachmentId", new { attachmentId }, ct);
        string? name;
        if (senderKind == "staff")
            name = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM staff WHERE id = @senderId", new { senderId }, ct);
        else
        {
            var customer = await db.QuerySingleOrDefaultAsync<(string? Name, string? Attributes)>("SELECT name, attributes FROM customers WHERE id = @senderId", new { senderId }, ct);
            name = CustomerNames.Display(senderId, customer.Name, Texts.LanguageOf(customer.Attributes));
        }
        if (attachment is null)
            return;
        var body = JsonSerializer.Serialize(new { attachment_id = attachment.Id, name = attachment.Name, content_type = attachment.ContentType, size = attachment.Size });
        await writer.SendAsync(new NewMessage(Ids.New("msg", clock), conversation, conversation.Audience(null), senderId, senderKind, name ?? "",
            clientMsgId, kind, body, attachment.Id, clock.GetUtcNow().ToUnixTimeMilliseconds(), Reopen: false, null), ct);
    }
}

/// <summary>Delivers due cards and reminders: at once when kicked, and every few seconds (quiet hours ending, other nodes, restarts).</summary>
internal sealed class NotifierLoop(Notifier notifier, ILogger<NotifierLoop> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await notifier.DeliverDueAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Delivering work item cards failed; retrying");
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wait.CancelAfter(Interval);
            try
            {
                await notifier.Kicks.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
