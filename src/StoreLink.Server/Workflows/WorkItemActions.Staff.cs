using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// What staff and integrations change on an item: fields, assignee, state, template version; and the followers.
public sealed partial class WorkItemActions
{
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
            throw ApiException.Conflict(Texts.Get(user.Language, "item_cannot_move", ("from", definition.State(item.State)!.Label!), ("to", target.Label!)));
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
            : definition.State(state) ?? throw new ApiException(ErrorCodes.Unprocessable, Texts.Get(user.Language, "item_state_unknown", ("state", state)));
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
        await CommitAsync(user, item, new Change(target is null ? "updated" : "state_changed", changes, Card: target is not null && !Decides(target), Urgent: target?.Urgent ?? false),
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
                await EnteredAsync(c, t, item, target, now);
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
            throw ApiException.Conflict(Texts.Get(user.Language, "item_version_lacks_state", ("version", $"{body.Version}"), ("state", item.State)));
        await CommitAsync(user, item, new Change("migrated", new { from_version = item.TemplateVersion, to_version = body.Version }, Card: false, Urgent: false), async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE work_items SET template_version = @version WHERE id = @id", new { version = body.Version, id = item.Id }, t);
            return true;
        }, ct);
        return await GetAsync(user, item.Id, ct);
    }
}
