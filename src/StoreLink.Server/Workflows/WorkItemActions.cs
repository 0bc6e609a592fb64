using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Work items and everything staff, integrations and customers do to them. Every change is one transaction that
/// also appends to the timeline and schedules the customer's card (see <see cref="Notifier"/>); followers, the
/// assignee and the store's managers get a <c>work_item</c> push once it has committed.
/// </summary>
public sealed class WorkItemActions(Db db, Access access, Templates templates, Notifier notifier, Desk.Router router, IEventBus bus,
    Integrations.ConnectorCommands commands, TimeProvider clock)
{
    public const int MaxFieldsBytes = 16_384;
    public static readonly string[] Priorities = ["low", "normal", "high", "urgent"];

    private sealed record Actor(string Id, string Kind, string Name);

    /// <summary>Thrown inside a change's transaction when its condition no longer holds: the transaction rolls back.</summary>
    private sealed class NotApplied : Exception;

    /// <summary>What a change did, for the timeline, and whether the customer hears of it.</summary>
    private sealed record Change(string Kind, object Data, bool Card, bool Urgent);

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
        var actor = ActorOf(user);
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
                    await AppendAsync(c, t, item.Id, actor, new Change("created", new
                    {
                        state = item.State, title = item.Title, category = item.Category, assignee_id = item.AssigneeId, team = item.Team,
                        conversation_id = item.ConversationId, transcript_from = item.TranscriptFrom, transcript_to = item.TranscriptTo,
                    }, true, initial.Urgent));
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
                    throw ApiException.Conflict($"A work item with the external reference {item.ExternalSystem}/{item.ExternalId} exists.");
                // Otherwise two items took the same number at once: take the next one.
            }
        }
        if (user.IsCustomer && attachments.Count > 0)
        {
            var conversation = await notifier.ConversationAsync(item, ct);
            for (var i = 0; i < attachments.Count; i++)
                await notifier.PostAsAsync(conversation, user.Id, "customer", MessageKinds.Image, attachments[i], $"{item.Id}:{i}", ct);
        }
        await AfterChangeAsync(item.Id, ct);
        return await GetAsync(user, item.Id, ct);
    }

    public async Task<WorkItemDto> GetAsync(CurrentUser user, string workItemId, CancellationToken ct) =>
        (await ViewAsync(user, [await access.WorkItemAsync(user, workItemId, ct)], ct))[0];

    /// <summary>Staff: a store's items with filters; customers: their own; API keys: their organization's (or store's).</summary>
    public async Task<IReadOnlyList<WorkItemDto>> ListAsync(CurrentUser user, string? storeId, string? state, string? category, string? assigneeId, string? kind,
        string? customerId, bool? overdue, bool? open, int? limit, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsRead);
        var where = new List<string> { "org_id = @orgId" };
        if (user.IsCustomer)
            where.Add("customer_id = @me");
        else if (storeId is not null)
            where.Add("store_id = @storeId");
        // Without a store: only the stores the caller may see, in the query itself, so the limit counts visible items.
        else if (user.IsStaff && !user.IsOrgAdmin)
            where.Add(db.Dialect.In("store_id", "@stores"));
        else if (user.IsApiClient && user.StoreId is not null)
            where.Add("store_id = @scoped");
        if (!user.IsCustomer && storeId is not null)
            await access.StoreAsync(user, storeId, ct);
        if (state is not null)
            where.Add("state = @state");
        if (category is not null)
            where.Add("category = @category");
        if (assigneeId is not null)
            where.Add(assigneeId == "me" ? "assignee_id = @me" : "assignee_id = @assigneeId");
        if (kind is not null)
            where.Add("kind = @kind");
        if (customerId is not null && !user.IsCustomer)
            where.Add("customer_id = @customerId");
        if (overdue == true)
            where.Add("due_at < @now AND closed_at IS NULL");
        if (open == true)
            where.Add("closed_at IS NULL");
        else if (open == false)
            where.Add("closed_at IS NOT NULL");
        var rows = await db.QueryAsync<WorkItemRow>($"""
            SELECT {WorkItemRow.Columns} FROM work_items WHERE {string.Join(" AND ", where)} ORDER BY updated_at DESC, id LIMIT @take
            """, new
        {
            orgId = user.OrgId, me = user.Id, storeId, state, category, assigneeId, kind, customerId, stores = user.StoreIds.ToArray(), scoped = user.StoreId,
            now = clock.GetUtcNow().ToUnixTimeMilliseconds(), take = Math.Clamp(limit ?? 100, 1, 500),
        }, ct);
        // Staff see the stores they work in; a scoped API key its store.
        var visible = rows.Where(r => user.IsCustomer || (user.IsStaff ? user.HasStoreRole(r.StoreId) : user.StoreId is null || user.StoreId == r.StoreId)).ToList();
        return await ViewAsync(user, visible, ct);
    }

    public async Task<IReadOnlyList<WorkItemEventDto>> TimelineAsync(CurrentUser user, string workItemId, CancellationToken ct)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        var rows = await db.QueryAsync<(long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt)>(
            "SELECT seq, kind, actor_id, actor_kind, actor_name, data, created_at FROM work_item_events WHERE work_item_id = @id ORDER BY seq",
            new { id = item.Id }, ct);
        return rows.Select(r => new WorkItemEventDto(r.Seq, r.Kind, new SenderDto(r.ActorId, r.ActorKind, r.ActorName),
            JsonSerializer.Deserialize<JsonElement>(r.Data), DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt))).ToList();
    }

    public async Task<WorkItemDto> UpdateAsync(CurrentUser user, string workItemId, UpdateWorkItemRequest body, CancellationToken ct)
    {
        var item = await WritableAsync(user, workItemId, ct);
        var definition = await DefinitionAsync(item, ct);
        var v = new Validation();
        var changes = new Dictionary<string, object?>();
        if (body.Title is not null)
            changes["title"] = item.Title = v.Required("title", body.Title, 200);
        if (body.Category is not null)
        {
            if (definition.Categories?.Any(c => c.Key == body.Category) != true)
                v.Add("category", "One of the template's categories.");
            changes["category"] = item.Category = body.Category;
        }
        if (body.Priority is not null)
        {
            if (!Priorities.Contains(body.Priority))
                v.Add("priority", "low, normal, high or urgent.");
            changes["priority"] = item.Priority = body.Priority;
        }
        if (body.Fields is not null)
        {
            item.Fields = JsonSerializer.Serialize(CheckFields(v, body.Fields, item.FieldMap));
            changes["fields"] = body.Fields;
        }
        if (body.Team is not null)
        {
            if (!Templates.StaffRoles.Contains(body.Team))
                v.Add("team", "agent, technician or manager.");
            changes["team"] = item.Team = body.Team;
        }
        if (body.DueAt is not null)
            changes["due_at"] = (item.DueAt = body.DueAt.Value.ToUnixTimeMilliseconds()) is { } due ? DateTimeOffset.FromUnixTimeMilliseconds(due) : null;
        v.ThrowIfAny();
        if (body.Unassign == true)
            changes["assignee_id"] = item.AssigneeId = null;
        else if (body.AssigneeId is not null)
            changes["assignee_id"] = item.AssigneeId = (await StaffOfStoreAsync(user, item.StoreId, body.AssigneeId, ct)).Id;
        if (changes.Count == 0)
            throw ApiException.Invalid("Nothing to change.");

        var assigned = changes.ContainsKey("assignee_id") || changes.ContainsKey("team");
        await CommitAsync(user, item, new Change(assigned ? "assigned" : "updated", changes, Card: assigned, Urgent: false), async (c, t) =>
        {
            // Only what this request changes, onto the row as it is now (the version bump locked it): a concurrent
            // change of other members, such as the customer's new address, is kept.
            var current = await c.QuerySingleAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @Id", item, t);
            if (body.Title is not null)
                current.Title = item.Title;
            if (body.Category is not null)
                current.Category = item.Category;
            if (body.Priority is not null)
                current.Priority = item.Priority;
            if (body.Team is not null)
                current.Team = item.Team;
            if (body.DueAt is not null)
                current.DueAt = item.DueAt;
            if (changes.ContainsKey("assignee_id"))
                current.AssigneeId = item.AssigneeId;
            if (body.Fields is not null)
            {
                var merged = new Validation();
                current.Fields = JsonSerializer.Serialize(CheckFields(merged, body.Fields, current.FieldMap));
                merged.ThrowIfAny();
            }
            await c.ExecuteAsync("""
                UPDATE work_items SET title = @Title, category = @Category, priority = @Priority, fields = @Fields, team = @Team, due_at = @DueAt, assignee_id = @AssigneeId
                WHERE id = @Id
                """, current, t);
            if (changes.ContainsKey("assignee_id") && current.AssigneeId is not null)
                await c.ExecuteAsync("INSERT INTO work_item_followers (work_item_id, staff_id) VALUES (@Id, @AssigneeId) ON CONFLICT DO NOTHING", current, t);
            return true;
        }, ct);
        return await GetAsync(user, item.Id, ct);
    }

    /// <summary>Staff move an item along its template; roles come from the template (org admins and API keys: any defined transition).</summary>
    public async Task<WorkItemDto> TransitionAsync(CurrentUser user, string workItemId, TransitionRequest body, CancellationToken ct)
    {
        var item = await WritableAsync(user, workItemId, ct);
        var definition = await DefinitionAsync(item, ct);
        var note = new Validation().MaxLength("note", body.Note, 1000);
        var target = definition.State(body.To ?? "") ?? throw ApiException.Invalid($"to is one of the template's states: {string.Join(", ", definition.States!.Select(s => s.Key))}.");
        var roles = definition.RolesFor(item.State, target.Key!);
        if (roles.Count == 0)
            throw ApiException.Conflict($"A work item in {definition.State(item.State)!.Label} cannot move to {target.Label}.");
        if (user.IsStaff && !user.IsOrgAdmin && !roles.Any(r => user.HasStoreRole(item.StoreId, r)))
            throw ApiException.Forbidden($"Moving to {target.Label} is for: {string.Join(", ", roles)}.");
        var request = body.Request is null ? null : await NewRequestAsync(user, item, body.Request, ct);
        await MoveAsync(user, item, definition, target, new { from = item.State, to = target.Key, note, request = request?.ToDto() }, ct,
            request is null ? null : async (c, t) =>
            {
                await InsertRequestAsync(c, t, request);
                return true;
            });
        return await GetAsync(user, item.Id, ct);
    }

    /// <summary>
    /// A change that the item's own external system reports (a connector's event): the state is the system's word,
    /// whatever the template's transitions say; the title and fields merge as in a PATCH. A state change posts the card
    /// (through quiet hours) and fires the webhooks as any other. <paramref name="gate"/> runs first in the change's
    /// transaction (the connector's ordering check); throwing leaves the item as it was. Nothing new: only the gate runs.
    /// </summary>
    public async Task SyncAsync(CurrentUser user, WorkItemRow item, string? title, string? state, Dictionary<string, JsonElement>? fields,
        Func<DbConnection, DbTransaction, Task> gate, CancellationToken ct)
    {
        user.RequirePermission(Permissions.WorkItemsWrite);
        var definition = await DefinitionAsync(item, ct);
        var target = state is null || state == item.State ? null
            : definition.State(state) ?? throw new ApiException(ErrorCodes.Unprocessable, $"The state {state} is not one of the item's template.");
        var v = new Validation();
        var newTitle = title is null ? null : v.Required("title", title, 200);
        var before = item.FieldMap;
        var after = CheckFields(v, fields, item.FieldMap);
        v.ThrowIfAny();
        var changes = new Dictionary<string, object?>();
        if (target is not null)
            (changes["from"], changes["to"]) = (item.State, target.Key);
        if (newTitle is not null && newTitle != item.Title)
            changes["title"] = newTitle;
        if (JsonSerializer.Serialize(before) != JsonSerializer.Serialize(after))
            changes["fields"] = fields;
        if (changes.Count == 0)
        {
            await db.InTransactionAsync(gate, ct);
            return;
        }
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await CommitAsync(user, item, new Change(target is null ? "updated" : "state_changed", changes, Card: target is not null, Urgent: target?.Urgent ?? false),
            async (c, t) =>
            {
                await gate(c, t);
                // Onto the row as it is now (the version bump locked it): a concurrent change of other members stays.
                var current = await c.QuerySingleAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @Id", item, t);
                var merged = new Validation();
                current.Fields = JsonSerializer.Serialize(CheckFields(merged, fields, current.FieldMap));
                merged.ThrowIfAny();
                current.Title = changes.ContainsKey("title") ? newTitle! : current.Title;
                await c.ExecuteAsync("UPDATE work_items SET title = @Title, fields = @Fields WHERE id = @Id", current, t);
                if (target is null)
                    return true;
                // From the state it is in now, for the timeline and the webhook (a staff move may have come in between).
                changes["from"] = item.State = current.State;
                await c.ExecuteAsync("UPDATE work_items SET state = @to, state_entered_at = @now, closed_at = @closedAt WHERE id = @id",
                    new { to = target.Key, now, closedAt = target.Terminal ? now : (long?)null, id = item.Id }, t);
                await notifier.ScheduleReminderAsync(c, t, item.Id, target, now);
                return true;
            }, ct);
    }

    /// <summary>
    /// An entry on the item's timeline that changes nothing else — a connector's command that is late, refused or
    /// failed — pushed to its followers, assignee and the store's managers like every change.
    /// </summary>
    public async Task NoteAsync(CurrentUser user, string workItemId, string kind, object data, CancellationToken ct)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        await CommitAsync(user, item, new Change(kind, data, Card: false, Urgent: false), (_, _) => Task.FromResult(true), ct);
    }

    public async Task<WorkItemDto> FollowAsync(CurrentUser user, string workItemId, bool follow, CancellationToken ct)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        Access.RequireStaff(user);
        await db.ExecuteAsync(follow
            ? "INSERT INTO work_item_followers (work_item_id, staff_id) VALUES (@id, @me) ON CONFLICT DO NOTHING"
            : "DELETE FROM work_item_followers WHERE work_item_id = @id AND staff_id = @me", new { id = item.Id, me = user.Id }, ct);
        return await GetAsync(user, item.Id, ct);
    }

    /// <summary>Extra work or a quote with photos: the customer approves or declines it from the card.</summary>
    public async Task<WorkItemRequestDto> CreateRequestAsync(CurrentUser user, string workItemId, CreateRequestRequest body, CancellationToken ct)
    {
        var item = await WritableAsync(user, workItemId, ct);
        var request = await NewRequestAsync(user, item, body, ct);
        var definition = await DefinitionAsync(item, ct);
        await CommitAsync(user, item, new Change("request_created", new { request = request.ToDto() }, Card: true, Urgent: definition.State(item.State)!.Urgent), async (c, t) =>
        {
            await InsertRequestAsync(c, t, request);
            return true;
        }, ct);
        return request.ToDto();
    }

    /// <summary>A request checked and ready to insert: staff only, a title, a price, up to 9 photos the caller uploaded.</summary>
    private async Task<RequestRow> NewRequestAsync(CurrentUser user, WorkItemRow item, CreateRequestRequest body, CancellationToken ct)
    {
        Access.RequireStaff(user);
        var v = new Validation();
        var title = v.Required("title", body.Title, 100);
        if (!decimal.TryParse(body.Price, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var price) || price < 0 || price > 1_000_000)
            v.Add("price", "Required: an amount such as \"30\" or \"899.00\".");
        var currency = body.Currency ?? "CNY";
        if (currency.Length != 3 || !currency.All(char.IsAsciiLetterUpper))
            v.Add("currency", "An ISO 4217 code such as CNY.");
        if (body.AttachmentIds is { Count: > 9 })
            v.Add("attachment_ids", "At most 9 photos.");
        v.ThrowIfAny();
        var photos = await CheckAttachmentsAsync(user, body.AttachmentIds, ct);
        await RequireOwnPhotosAsync(user, photos, ct);
        return new RequestRow
        {
            Id = Ids.New("req", clock), WorkItemId = item.Id, Title = title, Price = body.Price!, Currency = currency, AttachmentIds = JsonSerializer.Serialize(photos),
            CreatedBy = user.Id, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
    }

    private static Task InsertRequestAsync(DbConnection c, DbTransaction t, RequestRow request) =>
        c.ExecuteAsync($"""
            INSERT INTO work_item_requests ({RequestRow.Columns}) VALUES (@Id, @WorkItemId, @Title, @Price, @Currency, @AttachmentIds, 'pending', @CreatedBy, @CreatedAt, NULL)
            """, request, t);

    /// <summary>
    /// The customer acts from a card. Only the item's own customer; each action is idempotent by its <c>action_id</c>
    /// (a double tap does one thing), recorded on the timeline and answered in the chat. On an item whose system takes
    /// commands, a new address and an approval go to that system first (<see cref="Integrations.ConnectorCommands"/>);
    /// once it has done it, the same action comes back here with its <paramref name="command"/> and is applied in the
    /// transaction that closes the command (the customer is told by the command's dispatcher).
    /// </summary>
    public async Task<WorkItemDto> ActAsync(CurrentUser user, string workItemId, CustomerActionRequest body, CancellationToken ct,
        Integrations.CommandRow? command = null)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        if (!user.IsCustomer)
            throw ApiException.Forbidden("Only the customer acts from the card; staff change the work item directly.");
        var definition = await DefinitionAsync(item, ct);
        var state = definition.State(item.State)!;
        var action = body.Action?.Trim() ?? "";
        var (key, requestId) = action.Split(':', 2) is [var k, var r] ? (k, r) : (action, null);
        // By default a request's decision is one action, and a state's action one per visit of that state.
        var actionId = body.ActionId is { Length: > 0 and <= 100 } given ? given : requestId is not null ? action : $"{action}@{item.StateEnteredAt}";
        if (await db.QuerySingleOrDefaultAsync<string>("SELECT action FROM work_item_actions WHERE work_item_id = @id AND action_id = @actionId",
                new { id = item.Id, actionId }, ct) is not null)
            return await GetAsync(user, item.Id, ct); // done before: the same answer, nothing twice

        var v = new Validation();
        var note = v.MaxLength("note", body.Note, 1000);
        v.ThrowIfAny();
        // Applying a command's action: only together with closing the command, so only once.
        Func<DbConnection, DbTransaction, Task<int>> Closing(Func<DbConnection, DbTransaction, Task<int>> effect) =>
            command is null ? effect : async (c, t) => await commands.ClaimAsync(c, t, command) ? await effect(c, t) : 0;
        var photos = await CheckAttachmentsAsync(user, body.AttachmentIds, ct);
        // They are posted as the customer's own image messages.
        await RequireOwnPhotosAsync(user, photos, ct);
        if (key is "approve" or "decline")
        {
            var request = requestId is null ? null : await db.QuerySingleOrDefaultAsync<RequestRow>(
                $"SELECT {RequestRow.Columns} FROM work_item_requests WHERE id = @requestId AND work_item_id = @id", new { requestId, id = item.Id }, ct);
            if (request is null)
                throw ApiException.NotFound("The request");
            if (request.Status == (key == "approve" ? "approved" : "declined"))
                return await GetAsync(user, item.Id, ct); // a late double tap: answered that way already
            if (request.Status != "pending")
                throw ApiException.Conflict($"This request is already {request.Status}.");
            var approved = key == "approve";
            var to = definition.State((approved ? state.OnRequestApproved : state.OnRequestDeclined) ?? "");
            var data = new { action, request_id = request.Id, title = request.Title, price = request.Price, note, from = item.State, to = to?.Key };
            if (command is null && approved && await commands.SubmitAsync(user, item, actionId, "approve",
                    new { request_id = request.Id, title = request.Title, price = request.Price, currency = request.Currency, note }, body,
                    Texts.Languages.ToDictionary(l => l, l => Texts.Get(l, "command_approve",
                        ("request", request.Display), ("title", request.Title), ("currency", request.Currency), ("price", request.Price))), ct))
                return await GetAsync(user, item.Id, ct);
            if (!await ActCommitAsync(user, item, actionId, action, to is null ? new Change("customer_action", data, Card: true, Urgent: true) : null, to, definition, data,
                Closing((c, t) => c.ExecuteAsync("UPDATE work_item_requests SET status = @status, decided_at = @now WHERE id = @requestId AND status = 'pending'",
                    new { status = approved ? "approved" : "declined", now = clock.GetUtcNow().ToUnixTimeMilliseconds(), requestId = request.Id }, t)), ct))
                return await GetAsync(user, item.Id, ct);
            if (command is null)
                await AnswerAsync(item, language =>
                {
                    var decision = Texts.Get(language, approved ? "card_approved" : "card_declined", ("request", request.Display));
                    return note is null ? decision : Texts.Get(language, "card_decided_note", ("decision", decision), ("note", note));
                }, ct);
        }
        else
        {
            // A command's action was offered when the customer took it, in the state the item was in then.
            var offered = state.Actions?.FirstOrDefault(a => a.Key == key)
                ?? (command is null ? null : definition.State(command.FromState)?.Actions?.FirstOrDefault(a => a.Key == key));
            if (offered is null && await LastCustomerActionAsync(item.Id, ct) == key)
                return await GetAsync(user, item.Id, ct); // a late double tap of the action that moved the item on
            if (offered is null)
                throw ApiException.Conflict(key == "change_address"
                    ? $"The address can no longer be changed: the order is {state.CustomerText()}."
                    : $"This action is not available now (the item is {state.CustomerText()}).");
            string? address = null;
            if (offered.Needs == "note" && note is null)
                throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.", new Dictionary<string, string[]> { ["note"] = ["Required: tell us what is wrong."] });
            if (offered.Needs == "address")
                address = Address(body.Address);
            var to = offered.To is null ? null : definition.State(offered.To);
            var data = new { action = key, note, address, attachment_ids = photos, from = item.State, to = to?.Key };
            if (command is null && address is not null && await commands.SubmitAsync(user, item, actionId, key, new { address, note }, body,
                    Texts.Languages.ToDictionary(l => l, offered.Text), ct))
                return await GetAsync(user, item.Id, ct);
            if (!await ActCommitAsync(user, item, actionId, key, to is null ? new Change("customer_action", data, Card: address is not null, Urgent: offered.Urgent) : null, to, definition, data,
                Closing(async (c, t) =>
                {
                    if (address is null)
                        return 1;
                    // The fields as they are now, not as read before the transaction: a concurrent staff edit stays.
                    var fields = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(
                        await c.QuerySingleAsync<string>("SELECT fields FROM work_items WHERE id = @id", new { id = item.Id }, t)) ?? [];
                    fields["address"] = JsonSerializer.SerializeToElement(address);
                    return await c.ExecuteAsync("UPDATE work_items SET fields = @fields WHERE id = @id AND state = @state",
                        new { fields = JsonSerializer.Serialize(fields), id = item.Id, state = item.State }, t);
                }), ct))
                return await GetAsync(user, item.Id, ct);
            var conversation = await notifier.ConversationAsync(item, ct);
            for (var i = 0; i < photos.Count; i++)
                await notifier.PostAsAsync(conversation, user.Id, "customer", MessageKinds.Image, photos[i], $"{actionId}:{i}", ct);
            if (command is null)
                await AnswerAsync(item, language => Texts.Get(language, "card_received", ("action", offered.Text(language)))
                    + (address is null ? "" : Texts.Get(language, "card_received_address", ("address", address)))
                    + (note is null ? "" : Texts.Get(language, "card_received_note", ("note", note))), ct);
        }
        return await GetAsync(user, item.Id, ct);
    }

    private async Task<string?> LastCustomerActionAsync(string workItemId, CancellationToken ct)
    {
        var data = await db.QuerySingleOrDefaultAsync<string>("""
            SELECT data FROM work_item_events WHERE work_item_id = @workItemId ORDER BY seq DESC LIMIT 1
            """, new { workItemId }, ct);
        return data is null ? null : JsonDocument.Parse(data).RootElement.TryGetProperty("action", out var action) ? action.GetString() : null;
    }

    /// <summary>Moves an item in flight to another version of its template; its state must exist there.</summary>
    public async Task<WorkItemDto> MigrateAsync(CurrentUser user, string workItemId, MigrateRequest body, CancellationToken ct)
    {
        var item = await WritableAsync(user, workItemId, ct);
        if (user.IsStaff && !user.HasStoreRole(item.StoreId, Roles.Manager))
            throw ApiException.Forbidden("Managers migrate work items to another template version.");
        var target = body.Version is { } version ? await templates.DefinitionAsync(item.TemplateId, version, ct) : null;
        if (target is null)
            throw ApiException.Invalid("version: an existing version of the item's template.");
        if (target.State(item.State) is null)
            throw ApiException.Conflict($"Version {body.Version} has no state {item.State}; move the item to a state both versions share first.");
        await CommitAsync(user, item, new Change("migrated", new { from_version = item.TemplateVersion, to_version = body.Version }, Card: false, Urgent: false), async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE work_items SET template_version = @version WHERE id = @id", new { version = body.Version, id = item.Id }, t);
            return true;
        }, ct);
        return await GetAsync(user, item.Id, ct);
    }

    /// <summary>Applies a customer action once; false when an identical request did it first.</summary>
    private async Task<bool> ActCommitAsync(CurrentUser user, WorkItemRow item, string actionId, string action, Change? change, StateDef? to, TemplateDefinition definition, object data,
        Func<DbConnection, DbTransaction, Task<int>> effect, CancellationToken ct)
    {
        async Task<bool> Apply(DbConnection c, DbTransaction t)
        {
            // The action's id is taken first: a concurrent double tap finds it taken and does nothing.
            var taken = await c.ExecuteAsync("""
                INSERT INTO work_item_actions (work_item_id, action_id, action, result, created_at) VALUES (@id, @actionId, @action, '{}', @now)
                ON CONFLICT DO NOTHING
                """, new { id = item.Id, actionId, action, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);
            return taken == 1 && await effect(c, t) == 1;
        }
        try
        {
            if (to is not null)
                await MoveAsync(user, item, definition, to, data, ct, Apply, "customer_action");
            else
                await CommitAsync(user, item, change!, Apply, ct);
            return true;
        }
        catch (ApiException e) when (e.Code == ErrorCodes.Conflict)
        {
            // A concurrent double tap took the action id first: that one did the work, this one answers the same.
            if (await db.QuerySingleOrDefaultAsync<string>("SELECT action FROM work_item_actions WHERE work_item_id = @id AND action_id = @actionId",
                    new { id = item.Id, actionId }, ct) is not null)
                return false;
            throw;
        }
    }

    /// <summary>
    /// Enters a state: the timeline, the card (urgent as the state says), the reminder, closing on a terminal state.
    /// A state that waits for the customer's decision on a request (<c>on_request_approved</c> / <c>_declined</c>) shows
    /// its card only with a pending request: entered without one, its card waits for the request (which schedules it),
    /// so the customer gets one 待您确认报价 card that carries the actions, not one without them and one with.
    /// </summary>
    private Task MoveAsync(CurrentUser user, WorkItemRow item, TemplateDefinition definition, StateDef target, object data, CancellationToken ct,
        Func<DbConnection, DbTransaction, Task<bool>>? before = null, string kind = "state_changed")
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var decides = target.OnRequestApproved is not null || target.OnRequestDeclined is not null;
        return CommitAsync(user, item, new Change(kind, data, Card: !decides, Urgent: target.Urgent), async (c, t) =>
        {
            if (before is not null && !await before(c, t))
                return false;
            var moved = await c.ExecuteAsync("""
                UPDATE work_items SET state = @to, state_entered_at = @now, closed_at = @closedAt WHERE id = @id AND state = @from
                """, new { to = target.Key, now, closedAt = target.Terminal ? now : (long?)null, id = item.Id, from = item.State }, t);
            if (moved == 0)
                return false;
            await notifier.ScheduleReminderAsync(c, t, item.Id, target, now);
            if (decides && await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM work_item_requests WHERE work_item_id = @id AND status = 'pending'",
                    new { id = item.Id }, t) > 0)
                await notifier.ScheduleCardAsync(c, t, item.Id, (await c.QuerySingleAsync<StoreRow>(StoreRow.SelectById, new { id = item.StoreId }, t)), target.Urgent);
            else if (decides) // a card still waiting (quiet hours) would show this state without its request: the request's card replaces it
                await c.ExecuteAsync("DELETE FROM work_item_notices WHERE work_item_id = @id", new { id = item.Id }, t);
            return true;
        }, ct);
    }

    /// <summary>One change: applied, versioned, on the timeline, the card scheduled; pushed after commit.</summary>
    private async Task CommitAsync(CurrentUser user, WorkItemRow item, Change change, Func<DbConnection, DbTransaction, Task<bool>> apply, CancellationToken ct)
    {
        var store = (await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = item.StoreId }, ct))!;
        var applied = true;
        try
        {
            await db.InTransactionAsync(async (c, t) =>
            {
                // The version bump locks the row first, so concurrent changes queue up and the timeline's seq stays gapless.
                await c.ExecuteAsync("UPDATE work_items SET version = version + 1, updated_at = @now WHERE id = @id",
                    new { id = item.Id, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, t);
                if (!await apply(c, t))
                    throw new NotApplied();
                await AppendAsync(c, t, item.Id, ActorOf(user), change);
                if (change.Card)
                    await notifier.ScheduleCardAsync(c, t, item.Id, store, change.Urgent);
                await OutboxAsync(c, t, item.OrgId, item.Id, item.State, change, ct);
            }, ct);
        }
        catch (NotApplied)
        {
            applied = false;
        }
        if (!applied)
        {
            var current = await db.QuerySingleOrDefaultAsync<string>("SELECT state FROM work_items WHERE id = @id", new { id = item.Id }, ct);
            throw ApiException.Conflict(current != item.State ? "The work item changed meanwhile; look at it again." : "This was already done.");
        }
        await AfterChangeAsync(item.Id, ct);
    }

    /// <summary>
    /// The change's webhook events, in its transaction, with the item as staff see it: created; a customer action;
    /// and a state change whoever made it (<paramref name="fromState"/> null: the item was just created).
    /// </summary>
    private async Task OutboxAsync(DbConnection c, DbTransaction t, string orgId, string workItemId, string? fromState, Change? change, CancellationToken ct)
    {
        string[] types = fromState is null ? [WebhookEventTypes.WorkItemCreated]
            : change?.Kind == "state_changed" ? [WebhookEventTypes.WorkItemStateChanged]
            : change?.Kind == "customer_action" ? [WebhookEventTypes.CustomerActionTaken, WebhookEventTypes.WorkItemStateChanged]
            : [];
        // Other changes (fields, assignment, migration) are no event; and no subscriber means no work.
        if (types.Length == 0 || !await Integrations.Outbox.SubscribedAsync(c, t, orgId, types))
            return;
        var row = await c.QuerySingleAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, t);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        // Read through the change's own transaction: it sees the change's writes and takes no second pooled connection.
        var view = (await ViewAsync(null, [row], ct, (c, t)))[0];
        if (fromState is null)
            await Integrations.Outbox.EnqueueAsync(c, t, WebhookEventTypes.WorkItemCreated, row.OrgId, row.StoreId, new { work_item = view }, now);
        if (change?.Kind == "customer_action")
            await Integrations.Outbox.EnqueueAsync(c, t, WebhookEventTypes.CustomerActionTaken, row.OrgId, row.StoreId, new { work_item = view, action = change.Data }, now);
        if (fromState is not null && row.State != fromState)
            await Integrations.Outbox.EnqueueAsync(c, t, WebhookEventTypes.WorkItemStateChanged, row.OrgId, row.StoreId,
                new { work_item = view, from = fromState, to = row.State }, now);
    }

    private async Task AfterChangeAsync(string workItemId, CancellationToken ct)
    {
        notifier.Kick();
        var item = (await db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, ct))!;
        var followers = await db.QueryAsync<string>("SELECT staff_id FROM work_item_followers WHERE work_item_id = @workItemId", new { workItemId }, ct);
        var last = (await db.QuerySingleOrDefaultAsync<(long Seq, string Kind, string ActorId, string ActorKind, string ActorName, string Data, long CreatedAt)>(
            "SELECT seq, kind, actor_id, actor_kind, actor_name, data, created_at FROM work_item_events WHERE work_item_id = @workItemId ORDER BY seq DESC LIMIT 1",
            new { workItemId }, ct));
        var staffView = (await ViewAsync(null, [item], ct))[0];
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push,
            new Audience([.. followers, .. item.AssigneeId is null ? Array.Empty<string>() : [item.AssigneeId]], ManagersOf: item.StoreId, OrgAdminsOf: item.OrgId),
            Frames.Serialize(new
            {
                type = "work_item", work_item = staffView,
                @event = new WorkItemEventDto(last.Seq, last.Kind, new SenderDto(last.ActorId, last.ActorKind, last.ActorName),
                    JsonSerializer.Deserialize<JsonElement>(last.Data), DateTimeOffset.FromUnixTimeMilliseconds(last.CreatedAt)),
            })), ct);
    }

    /// <summary>Answers the customer's action in the item's conversation, in the customer's language.</summary>
    private async Task AnswerAsync(WorkItemRow item, Func<string, string> text, CancellationToken ct)
    {
        var conversation = await notifier.ConversationAsync(item, ct);
        await router.PostSystemAsync(conversation, text(await router.LanguageAsync(conversation, ct)), ct);
    }

    private async Task AppendAsync(DbConnection c, DbTransaction t, string workItemId, Actor actor, Change change) =>
        await c.ExecuteAsync("""
            INSERT INTO work_item_events (work_item_id, seq, kind, actor_id, actor_kind, actor_name, data, created_at)
            VALUES (@workItemId, (SELECT COALESCE(MAX(seq), 0) + 1 FROM work_item_events WHERE work_item_id = @workItemId), @kind, @actorId, @actorKind, @actorName, @data, @now)
            """, new
        {
            workItemId, kind = change.Kind, actorId = actor.Id, actorKind = actor.Kind, actorName = actor.Name,
            data = JsonSerializer.Serialize(change.Data, ProtocolJson.Options), now = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        }, t);

    /// <summary>The DTOs of items for a caller (null: the staff view used in pushes).</summary>
    /// <remarks>Inside a change's transaction pass it as <paramref name="tx"/>: every read then goes through it.</remarks>
    private async Task<IReadOnlyList<WorkItemDto>> ViewAsync(CurrentUser? user, IReadOnlyList<WorkItemRow> items, CancellationToken ct,
        (DbConnection Connection, DbTransaction Transaction)? tx = null)
    {
        // Through the change's transaction when given one, else on a pooled connection.
        async Task<IEnumerable<T>> ReadAsync<T>(string sql, object args) =>
            tx is (var c, var t) ? await c.QueryAsync<T>(sql, args, t) : await db.QueryAsync<T>(sql, args, ct);
        var ids = items.Select(i => i.Id).ToList();
        var requests = (await ReadAsync<RequestRow>($"SELECT {RequestRow.Columns} FROM work_item_requests WHERE {db.Dialect.In("work_item_id", "@ids")} ORDER BY created_at, id",
            new { ids })).ToLookup(r => r.WorkItemId);
        var staffIds = items.Select(i => i.AssigneeId).OfType<string>().Distinct().ToList();
        var names = (await ReadAsync<(string Id, string Name)>($"SELECT id, name FROM staff WHERE {db.Dialect.In("id", "@staffIds")}", new { staffIds }))
            .ToDictionary(s => s.Id, s => s.Name);
        var customerIds = items.Select(i => i.CustomerId).Distinct().ToList();
        var customers = (await ReadAsync<(string Id, string? Name, string? Attributes)>($"SELECT id, name, attributes FROM customers WHERE {db.Dialect.In("id", "@customerIds")}",
            new { customerIds })).ToDictionary(s => s.Id);
        // A customer reads their items' states and actions in their language, as on the cards; staff in the default one.
        string LanguageFor(WorkItemRow item) =>
            user is { IsCustomer: true } ? Texts.LanguageOf(customers.GetValueOrDefault(item.CustomerId).Attributes) : Texts.DefaultLanguage;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var result = new List<WorkItemDto>();
        foreach (var item in items)
        {
            var definition = await DefinitionAsync(item, ct, tx);
            var state = definition.State(item.State)!;
            var pending = requests[item.Id].Where(r => r.Status == "pending").ToList();
            var language = LanguageFor(item);
            var actions = Notifier.CustomerActions(state, pending, language);
            IReadOnlyList<string>? transitions = user is { IsCustomer: true } ? null
                : definition.States!.Where(s => definition.RolesFor(item.State, s.Key!) is { Count: > 0 } roles
                    && (user is null || !user.IsStaff || user.IsOrgAdmin || roles.Any(r => user.HasStoreRole(item.StoreId, r)))).Select(s => s.Key!).ToList();
            result.Add(new WorkItemDto(item.Id, item.StoreId, item.CustomerId, CustomerNames.Display(item.CustomerId, customers.GetValueOrDefault(item.CustomerId).Name), item.Kind, item.Number, item.TemplateId, (int)item.TemplateVersion,
                item.State, state.Label!, state.CustomerText(language), state.Terminal, item.Title, item.Category,
                definition.Categories?.FirstOrDefault(c => c.Key == item.Category)?.Label, item.Priority,
                item.AssigneeId, item.AssigneeId is null ? null : names.GetValueOrDefault(item.AssigneeId), item.Team, item.FieldMap, item.AttachmentList,
                item.ConversationId, item.ConversationId is null || item.TranscriptFrom is null ? null : new TranscriptDto(item.ConversationId, item.TranscriptFrom.Value, item.TranscriptTo ?? item.TranscriptFrom.Value),
                item.ExternalId is null ? null : new ExternalRefDto(item.ExternalSystem, item.ExternalId),
                item.DueAt is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(item.DueAt.Value), item.DueAt < now && item.ClosedAt is null, (int)item.Version,
                DateTimeOffset.FromUnixTimeMilliseconds(item.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(item.UpdatedAt),
                DateTimeOffset.FromUnixTimeMilliseconds(item.StateEnteredAt), actions, requests[item.Id].Select(r => r.ToDto()).ToList(), transitions));
        }
        return result;
    }

    private async Task<TemplateDefinition> DefinitionAsync(WorkItemRow item, CancellationToken ct, (DbConnection, DbTransaction)? tx = null) =>
        (await templates.DefinitionAsync(item.TemplateId, (int)item.TemplateVersion, ct, tx))!;

    /// <summary>Staff of the item's store, or an API key with <c>work_items:write</c>; customers act through <see cref="ActAsync"/>.</summary>
    private async Task<WorkItemRow> WritableAsync(CurrentUser user, string workItemId, CancellationToken ct)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        if (user.IsCustomer)
            throw ApiException.Forbidden("Customers act from the card (POST /v1/work-items/{id}/actions).");
        user.RequirePermission(Permissions.WorkItemsWrite);
        return item;
    }

    private async Task<StaffRow> StaffOfStoreAsync(CurrentUser user, string storeId, string staffId, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, staffId, ct);
        var works = await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM staff_roles WHERE staff_id = @staffId AND (store_id = @storeId OR role = 'org_admin')",
            new { staffId = staff.Id, storeId }, ct);
        if (works == 0 || staff.DisabledAt is not null)
            throw ApiException.Invalid($"assignee_id: {staff.Name} does not work in this store.");
        return staff;
    }

    private async Task<List<string>> CheckAttachmentsAsync(CurrentUser user, List<string>? ids, CancellationToken ct)
    {
        var list = (ids ?? []).Distinct().ToList();
        if (list.Count > 20)
            throw ApiException.Invalid("attachment_ids: at most 20.");
        foreach (var id in list)
            await access.AttachmentAsync(user, id ?? "", ct);
        return list;
    }

    /// <summary>Photos posted in the caller's name (a message references only what its sender uploaded).</summary>
    private async Task RequireOwnPhotosAsync(CurrentUser user, List<string> photos, CancellationToken ct)
    {
        if (photos.Count > 0 && (await db.QueryAsync<string>($"SELECT uploader_id FROM attachments WHERE {db.Dialect.In("id", "@photos")}", new { photos }, ct))
                .Any(u => u != user.Id))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["attachment_ids"] = ["Photos you uploaded."] });
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

    private static Dictionary<string, JsonElement> CheckFields(Validation v, Dictionary<string, JsonElement>? changes, Dictionary<string, JsonElement> fields)
    {
        foreach (var (key, value) in changes ?? [])
        {
            if (key.Length is 0 or > 40)
                v.Add("fields", "Field names are 1 to 40 characters.");
            else if (value.ValueKind == JsonValueKind.Null)
                fields.Remove(key);
            else
            {
                v.Shallow("fields", value);
                fields[key] = value;
            }
        }
        if (JsonSerializer.Serialize(fields).Length > MaxFieldsBytes)
            v.Add("fields", $"At most {MaxFieldsBytes} bytes of fields.");
        return fields;
    }

    private static string Address(JsonElement? value)
    {
        var text = value is { ValueKind: JsonValueKind.String } s ? s.GetString()?.Trim() : null;
        if (string.IsNullOrEmpty(text) || text.Length > 300)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["address"] = ["Required: the new delivery address (at most 300 characters)."] });
        return text;
    }

    private static string Shorten(string text, int max)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= max ? line : line[..max] + "…";
    }

    private static Actor ActorOf(CurrentUser user) =>
        new(user.Id, user.IsStaff ? "staff" : user.IsCustomer ? "customer" : "api_client", user.Name);
}
