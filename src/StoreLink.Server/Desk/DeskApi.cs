using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Desk;

public static class DeskApi
{
    public static void MapDesk(this IEndpointRouteBuilder app)
    {
        CannedReplies.Map(app);
        Csat.Map(app);
        CustomerPanel.Map(app);
        Mentions.Map(app);
        var queues = app.MapGroup("/v1").RequireAuthorization().WithTags("Desk");
        queues.MapGet("/stores/{id}/queues", async (string id, CurrentUser user, Access access, QueueActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ListAsync((await access.StoreAsync(user, id, ct)).Id, ct)));
        queues.MapPost("/stores/{id}/queues", async (string id, QueueRequest body, CurrentUser user, QueueActions actions, CancellationToken ct) =>
        {
            var queue = await actions.CreateAsync(user, id, body, ct);
            return TypedResults.Created($"/v1/queues/{queue.Id}", queue);
        });
        queues.MapPatch("/queues/{id}", async (string id, QueueRequest body, CurrentUser user, QueueActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.UpdateAsync(user, id, body, ct)));
        queues.MapDelete("/queues/{id}", async (string id, CurrentUser user, QueueActions actions, CancellationToken ct) =>
        {
            await actions.DeleteAsync(user, id, ct);
            return TypedResults.NoContent();
        });
        queues.MapPut("/staff/{id}/capacity", async (string id, CapacityRequest body, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.SetCapacityAsync(user, id, body, ct)));
        // Public: the widget offers these as the customer's choice before signing in.
        app.MapGet("/v1/stores/by-key/{storeKey}/queues", async (string storeKey, Access access, QueueActions actions, CancellationToken ct) =>
        {
            var store = await access.StoreByKeyAsync(storeKey, ct);
            return TypedResults.Ok((await actions.ListAsync(store.Id, ct)).Select(q => new { id = q.Id, name = q.Name }));
        }).WithTags("Desk");

        app.MapGet("/v1/conversations/{id}/queue", async (string id, CurrentUser user, Access access, Router router, CancellationToken ct) =>
        {
            var conversation = await access.ConversationAsync(user, id, ct);
            return TypedResults.Ok(await router.PositionAsync(conversation.Facts, ct) ?? new QueuePositionDto(id, null, 0, null, null));
        }).RequireAuthorization().WithTags("Desk");

        var desk = app.MapGroup("/v1/desk").RequireAuthorization().WithTags("Desk");
        desk.MapGet("/inbox", async (string store_id, string? view, string? queue_id, string? state, int? limit, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.InboxAsync(user, store_id, view, queue_id, state, limit, ct)));
        desk.MapGet("/counts", async (string store_id, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.CountsAsync(user, store_id, ct)));
        var conversation = desk.MapGroup("/conversations/{id}");
        conversation.MapPost("/transfer", async (string id, TransferRequest body, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.TransferAsync(user, id, body, ct)));
        conversation.MapPost("/assign", async (string id, AssignRequest body, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.AssignAsync(user, id, body, ct)));
        conversation.MapPost("/pending", async (string id, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.PendingAsync(user, id, ct)));
        conversation.MapPut("/labels", async (string id, LabelsRequest body, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.SetLabelsAsync(user, id, body, ct)));
        conversation.MapPost("/watch", async (string id, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.WatchAsync(user, id, watch: true, ct)));
        conversation.MapDelete("/watch", async (string id, CurrentUser user, DeskActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.WatchAsync(user, id, watch: false, ct)));
    }
}
