using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// Creating a work item: by staff, by an API key or connector, or by a customer from the chat.
public sealed partial class WorkItemActions
{
    /// <param name="state">The state it starts in instead of the template's initial one (its external system's word).</param>
    /// <param name="gate">Runs first in the creating transaction (a connector's ordering check); throwing leaves nothing behind.</param>
    public async Task<WorkItemDto> CreateAsync(CurrentUser user, CreateWorkItemRequest body, CancellationToken ct, string? state = null,
        Func<DbConnection, DbTransaction, Task>? gate = null)
    {
        user.RequirePermission(Permissions.WorkItemsWrite);
        var v = new Validation();
        StoreRow store;
        string customerId;
        if (user.IsCustomer)
        {
            store = await access.StoreByKeyAsync(body.StoreKey, ct);
            if (store.OrgId != user.OrgId)
                throw ApiException.NotFound("The store");
            // The widget's 报修: only the kinds the store takes from customers, on its default template, as the
            // customer describes it; the rest (priority, assignee, team, references, due date) is the store's to set.
            if (body.Kind is null || !store.CustomerWorkKindList.Contains(body.Kind))
                throw ApiException.Forbidden(store.CustomerWorkKindList.Count == 0
                    ? "This store takes no requests from customers in the chat."
                    : $"kind: this store takes {string.Join(", ", store.CustomerWorkKindList)} from customers.");
            body = body with { TemplateId = null, Priority = null, AssigneeId = null, Team = null, ExternalRef = null, DueAt = null };
            customerId = user.Id;
        }
        else
        {
            store = await access.StoreAsync(user, body.StoreId ?? "", ct);
            customerId = (await access.CustomerAsync(user, body.CustomerId ?? "", ct)).Id;
        }

        if (body.TemplateId is null && !Templates.Kinds.Contains(body.Kind))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["kind"] = ["Required without template_id: ticket, order or care_job."] });
        var template = body.TemplateId is not null ? await templates.RowAsync(user, body.TemplateId, ct)
            : await templates.DefaultAsync(store.OrgId, body.Kind ?? "", ct);
        if (body.Kind is not null && body.Kind != template.Kind)
            v.Add("kind", $"The template is for {template.Kind}.");
        var definition = (await templates.DefinitionAsync(template.Id, (int)template.CurrentVersion, ct))!;
        var description = v.MaxLength("description", body.Description, 2000);
        var title = v.MaxLength("title", body.Title, 200) ?? (description is null ? null : Shorten(description, 60));
        if (title is null)
            v.Add("title", "Required: a title or a description.");
        var category = body.Category ?? Guess(definition, $"{title} {description}")?.Key;
        if (category is not null && definition.Categories?.Any(c => c.Key == category) != true)
            v.Add("category", "One of the template's categories: " + string.Join(", ", (definition.Categories ?? []).Select(c => c.Key)) + ".");
        var priority = body.Priority ?? "normal";
        if (!Priorities.Contains(priority))
            v.Add("priority", "low, normal, high or urgent.");
        var fields = CheckFields(v, body.Fields, []);
        if (description is not null)
            fields["description"] = JsonSerializer.SerializeToElement(description);
        if (body.Team is not null && !Templates.StaffRoles.Contains(body.Team))
            v.Add("team", "agent, technician or manager.");
        if (body.ExternalRef is { } external && (string.IsNullOrWhiteSpace(external.System) || string.IsNullOrWhiteSpace(external.Id) || external.System.Length > 40 || external.Id.Length > 100))
            v.Add("external_ref", "system (at most 40 characters) and id (at most 100).");
        v.ThrowIfAny();

        string? conversationId = null;
        if (body.ConversationId is not null)
        {
            var conversation = await access.ConversationAsync(user, body.ConversationId, ct);
            if (conversation.Facts.Kind != ConversationKinds.Service || conversation.Facts.CustomerId != customerId || conversation.Facts.StoreId != store.Id)
                throw ApiException.Invalid("conversation_id is a service conversation of this customer with this store.");
            conversationId = conversation.Facts.Id;
        }
        else // the customer's conversation with the store that is going on now, if any; else the card opens one
            conversationId = await db.QuerySingleOrDefaultAsync<string>(
                "SELECT id FROM conversations WHERE kind = 'service' AND customer_id = @customerId AND store_id = @storeId AND state <> 'resolved'",
                new { customerId, storeId = store.Id }, ct);
        var attachments = await CheckAttachmentsAsync(user, body.AttachmentIds, ct);
        // A customer's photos are posted in the chat as their own images (so staff may open them); a message carries
        // only what its sender uploaded.
        if (user.IsCustomer)
            await RequireOwnPhotosAsync(user, attachments, ct);
        var assigneeId = body.AssigneeId is null || user.IsCustomer ? null : (await StaffOfStoreAsync(user, store.Id, body.AssigneeId, ct)).Id;

        var now = clock.GetUtcNow();
        var item = new WorkItemRow
        {
            Id = Ids.New("wi", clock), OrgId = store.OrgId, StoreId = store.Id, CustomerId = customerId, Kind = template.Kind, TemplateId = template.Id,
            TemplateVersion = template.CurrentVersion, State = state ?? definition.Initial!, Title = title!, Category = category, Priority = priority,
            AssigneeId = assigneeId, Team = user.IsCustomer ? null : body.Team, Fields = JsonSerializer.Serialize(fields), AttachmentIds = JsonSerializer.Serialize(attachments),
            ConversationId = conversationId, TranscriptFrom = conversationId is null ? null : body.TranscriptFrom, TranscriptTo = conversationId is null ? null : body.TranscriptTo,
            ExternalSystem = body.ExternalRef?.System, ExternalId = body.ExternalRef?.Id, DueAt = body.DueAt?.ToUnixTimeMilliseconds(),
            Version = 1, CreatedBy = user.Id, CreatedAt = now.ToUnixTimeMilliseconds(), UpdatedAt = now.ToUnixTimeMilliseconds(),
            StateEnteredAt = now.ToUnixTimeMilliseconds(),
        };
        var actor = Actor.Of(user);
        var initial = definition.State(item.State) ?? throw ApiException.Invalid($"state is one of the template's states: {string.Join(", ", definition.States!.Select(s => s.Key))}.");
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await db.InTransactionAsync(async (c, t) =>
                {
                    if (gate is not null)
                        await gate(c, t);
                    item.Number = await NextNumberAsync(c, t, store, item.Kind, now);
                    if (item.AssigneeId is null && item.Team is null && definition.Categories?.FirstOrDefault(x => x.Key == item.Category) is { } rule)
                        (item.AssigneeId, item.Team) = await AssignByRuleAsync(c, t, store.Id, rule);
                    await c.ExecuteAsync($"""
                        INSERT INTO work_items ({WorkItemRow.Columns}) VALUES (@Id, @OrgId, @StoreId, @CustomerId, @Kind, @Number, @TemplateId, @TemplateVersion,
                            @State, @Title, @Category, @Priority, @AssigneeId, @Team, @Fields, @AttachmentIds, @ConversationId, @TranscriptFrom, @TranscriptTo,
                            @ExternalSystem, @ExternalId, @DueAt, @Version, @CreatedBy, @CreatedAt, @UpdatedAt, @StateEnteredAt, NULL)
                        """, item, t);
                    foreach (var follower in new[] { user.IsStaff ? user.Id : null, item.AssigneeId }.OfType<string>().Distinct())
                        await c.ExecuteAsync("INSERT INTO work_item_followers (work_item_id, staff_id) VALUES (@id, @follower) ON CONFLICT DO NOTHING",
                            new { id = item.Id, follower }, t);
                    await Timeline.WorkItems.AppendAsync(c, t, item.Id, actor, "created", new
                    {
                        state = item.State, title = item.Title, category = item.Category, assignee_id = item.AssigneeId, team = item.Team,
                        conversation_id = item.ConversationId, transcript_from = item.TranscriptFrom, transcript_to = item.TranscriptTo,
                    }, now);
                    await notifier.ScheduleCardAsync(c, t, item.Id, store, initial.Urgent);
                    await notifier.ScheduleReminderAsync(c, t, item.Id, initial, item.StateEnteredAt);
                    await OutboxAsync(c, t, item.OrgId, item.Id, null, null, ct);
                }, ct);
                break;
            }
            catch (Exception e) when (SqlDialect.IsUniqueViolation(e) && attempt < 5)
            {
                if (item.ExternalId is not null && await db.QuerySingleOrDefaultAsync<string>(
                        "SELECT id FROM work_items WHERE org_id = @OrgId AND external_system = @ExternalSystem AND external_id = @ExternalId", item, ct) is not null)
                    throw ApiException.Conflict(Texts.Get(user.Language, "item_external_ref_taken", ("ref", $"{item.ExternalSystem}/{item.ExternalId}")));
                // Otherwise two items took the same number at once: take the next one.
            }
        }
        if (user.IsCustomer && attachments.Count > 0)
        {
            var conversation = await notifier.ConversationAsync(item, ct);
            for (var i = 0; i < attachments.Count; i++)
                await posts.PostAsAsync(conversation, user.Id, "customer", MessageKinds.Image, attachments[i], $"{item.Id}:{i}", ct);
        }
        await AfterChangeAsync(item.Id, ct);
        return await GetAsync(user, item.Id, ct);
    }

    /// <summary>The category rule: a named person if they still work in the store, else the least busy holder of the role.</summary>
    private static async Task<(string? AssigneeId, string? Team)> AssignByRuleAsync(DbConnection c, DbTransaction t, string storeId, CategoryDef rule)
    {
        if (rule.AssignStaffId is not null && await c.ExecuteScalarAsync<long>("""
                SELECT COUNT(*) FROM staff s JOIN staff_roles r ON r.staff_id = s.id WHERE s.id = @id AND r.store_id = @storeId AND s.disabled_at IS NULL
                """, new { id = rule.AssignStaffId, storeId }, t) > 0)
            return (rule.AssignStaffId, null);
        if (rule.AssignRole is null)
            return (null, null);
        var least = await c.QueryFirstOrDefaultAsync<string>("""
            SELECT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id AND r.store_id = @storeId AND r.role = @role
            WHERE s.disabled_at IS NULL
            ORDER BY (SELECT COUNT(*) FROM work_items w WHERE w.assignee_id = s.id AND w.closed_at IS NULL), s.created_at, s.id
            LIMIT 1
            """, new { storeId, role = rule.AssignRole }, t);
        return (least, rule.AssignRole);
    }

    /// <summary>T261122-001: kind, the store's local date, the day's running number.</summary>
    private static async Task<string> NextNumberAsync(DbConnection c, DbTransaction t, StoreRow store, string kind, DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone));
        var prefix = $"{WorkItemKinds.Prefix(kind)}{local:yyMMdd}-";
        var count = await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM work_items WHERE store_id = @storeId AND number LIKE @like",
            new { storeId = store.Id, like = prefix + "%" }, t);
        return $"{prefix}{count + 1:000}";
    }

    /// <summary>The first category whose keywords occur in the text.</summary>
    public static CategoryDef? Guess(TemplateDefinition definition, string text) =>
        (definition.Categories ?? []).FirstOrDefault(c => (c.Keywords ?? []).Any(k => text.Contains(k, StringComparison.OrdinalIgnoreCase)));
}
