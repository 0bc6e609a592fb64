using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// What the customer does from a card: approve, decline, accept, a new address; idempotent by action id.
public sealed partial class WorkItemActions
{
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
                throw ApiException.Conflict(Texts.Get(user.Language, "request_decided", ("status", Texts.Get(user.Language, $"request_status_{request.Status}"))));
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
                throw ApiException.Conflict(Texts.Get(user.Language, key == "change_address" ? "action_address_closed" : "action_unavailable",
                    ("state", state.CustomerText(user.Language))));
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
                await posts.PostAsAsync(conversation, user.Id, "customer", MessageKinds.Image, photos[i], $"{actionId}:{i}", ct);
            if (command is null)
                await AnswerAsync(item, language => Texts.Get(language, "card_received", ("action", offered.Text(language)))
                    + (address is null ? "" : Texts.Get(language, "card_received_address", ("address", address)))
                    + (note is null ? "" : Texts.Get(language, "card_received_note", ("note", note))), ct);
        }
        return await GetAsync(user, item.Id, ct);
    }

    private async Task<string?> LastCustomerActionAsync(string workItemId, CancellationToken ct) =>
        await Timeline.WorkItems.LastAsync(db, workItemId, ct) is { } last && last.Data.ValueKind == JsonValueKind.Object
            && last.Data.TryGetProperty("action", out var action) ? action.GetString() : null;

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

    /// <summary>Answers the customer's action in the item's conversation, in the customer's language.</summary>
    private async Task AnswerAsync(WorkItemRow item, Func<string, string> text, CancellationToken ct)
    {
        await posts.PostSystemAsync(await notifier.ConversationAsync(item, ct), text, ct);
    }

    private static string Address(JsonElement? value)
    {
        var text = value is { ValueKind: JsonValueKind.String } s ? s.GetString()?.Trim() : null;
        if (string.IsNullOrEmpty(text) || text.Length > 300)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["address"] = ["Required: the new delivery address (at most 300 characters)."] });
        return text;
    }
}
