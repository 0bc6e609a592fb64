using System.Data.Common;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Desk;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

// The machinery every change goes through: one transaction, the timeline, the card, the outbox, the push.
public sealed partial class WorkItemActions
{
    /// <summary>Thrown inside a change's transaction when its condition no longer holds: the transaction rolls back.</summary>
    private sealed class NotApplied : Exception;

    /// <summary>What a change did, for the timeline, and whether the customer hears of it.</summary>
    private sealed record Change(string Kind, object Data, bool Card, bool Urgent);

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
        return CommitAsync(user, item, new Change(kind, data, Card: !Decides(target), Urgent: target.Urgent), async (c, t) =>
        {
            if (before is not null && !await before(c, t))
                return false;
            var moved = await c.ExecuteAsync("""
                UPDATE work_items SET state = @to, state_entered_at = @now, closed_at = @closedAt WHERE id = @id AND state = @from
                """, new { to = target.Key, now, closedAt = target.Terminal ? now : (long?)null, id = item.Id, from = item.State }, t);
            if (moved == 0)
                return false;
            await EnteredAsync(c, t, item, target, now);
            return true;
        }, ct);
    }

    /// <summary>A state that waits for the customer's decision on a request; its card comes from <see cref="EnteredAsync"/>, not the change.</summary>
    private static bool Decides(StateDef state) => state.OnRequestApproved is not null || state.OnRequestDeclined is not null;

    /// <summary>
    /// What entering <paramref name="target"/> schedules, in the change's transaction, whoever moved the item (staff or
    /// the store's system): its reminder, and for a state that <see cref="Decides"/> the card only with a pending request.
    /// </summary>
    private async Task EnteredAsync(DbConnection c, DbTransaction t, WorkItemRow item, StateDef target, long now)
    {
        await notifier.ScheduleReminderAsync(c, t, item.Id, target, now);
        if (!Decides(target))
            return;
        if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM work_item_requests WHERE work_item_id = @id AND status = 'pending'", new { id = item.Id }, t) > 0)
            await notifier.ScheduleCardAsync(c, t, item.Id, await c.QuerySingleAsync<StoreRow>(StoreRow.SelectById, new { id = item.StoreId }, t), target.Urgent);
        else // a card still waiting (quiet hours) would show this state without its request: the request's card replaces it
            await notifier.VoidAsync(c, t, NoticeSubjects.WorkItem, item.Id, NoticeKinds.Card);
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
                await Timeline.WorkItems.AppendAsync(c, t, item.Id, Actor.Of(user), change.Kind, change.Data, clock.GetUtcNow());
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
            throw ApiException.Conflict(Texts.Get(user.Language, current != item.State ? "item_changed" : "item_done_already"));
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
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.WorkItemCreated, row.OrgId, row.StoreId, new { work_item = view }, now);
        if (change?.Kind == "customer_action")
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.CustomerActionTaken, row.OrgId, row.StoreId, new { work_item = view, action = change.Data }, now);
        if (fromState is not null && row.State != fromState)
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.WorkItemStateChanged, row.OrgId, row.StoreId,
                new { work_item = view, from = fromState, to = row.State }, now);
    }

    private async Task AfterChangeAsync(string workItemId, CancellationToken ct)
    {
        notifier.Kick();
        var item = (await db.QuerySingleOrDefaultAsync<WorkItemRow>($"SELECT {WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, ct))!;
        var followers = await db.QueryAsync<string>("SELECT staff_id FROM work_item_followers WHERE work_item_id = @workItemId", new { workItemId }, ct);
        var last = await Timeline.WorkItems.LastAsync(db, workItemId, ct);
        var staffView = (await ViewAsync(null, [item], ct))[0];
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push,
            new Audience([.. followers, .. item.AssigneeId is null ? Array.Empty<string>() : [item.AssigneeId]], ManagersOf: item.StoreId, OrgAdminsOf: item.OrgId),
            Frames.Serialize(new
            {
                type = "work_item", work_item = staffView,
                @event = last,
            })), ct);
    }
}
