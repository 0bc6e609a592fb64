using Microsoft.AspNetCore.Http.HttpResults;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Conversations;

public static class ConversationsApi
{
    public static void MapConversations(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/conversations").RequireAuthorization().WithTags("Conversations");
        group.MapPost("/", CreateAsync);
        group.MapGet("/", async (CurrentUser user, ConversationActions actions, int? limit, string? customer_id, string? store_id, CancellationToken ct) =>
            TypedResults.Ok(await actions.ListAsync(user, limit ?? 200, customer_id, store_id, ct)));
        group.MapGet("/{id}", async (string id, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.GetAsync(user, id, ct)));
        group.MapGet("/{id}/messages", async (string id, long? after_seq, long? before_seq, int? limit, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.HistoryAsync(user, id, after_seq, before_seq, limit, ct)));
        group.MapPost("/{id}/messages", SendAsync).WithIdempotency();
        group.MapPost("/{id}/resolve", async (string id, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ResolveAsync(user, id, ct)));
        group.MapPost("/{id}/read", async (string id, WatermarkRequest body, CurrentUser user, MessageActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.MarkAsync(user, id, body.Seq, read: true, null, ct)));
        group.MapPost("/{id}/delivered", async (string id, WatermarkRequest body, CurrentUser user, MessageActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.MarkAsync(user, id, body.Seq, read: false, null, ct)));
        group.MapGet("/{id}/receipts", async (string id, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ReceiptsAsync(user, id, ct)));
        group.MapPost("/{id}/members", async (string id, AddMembersRequest body, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ChangeMembersAsync(user, id, body.UserIds ?? [], null, ct)));
        group.MapDelete("/{id}/members/{userId}", async (string id, string userId, CurrentUser user, ConversationActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ChangeMembersAsync(user, id, [], userId, ct)));

        app.MapPost("/v1/messages/{id}/recall", async (string id, CurrentUser user, MessageActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.RecallAsync(user, id, ct))).RequireAuthorization().WithTags("Conversations");
    }

    private static async Task<Results<Created<ConversationDto>, Ok<ConversationDto>>> CreateAsync(
        CreateConversationRequest body, CurrentUser user, ConversationActions actions, CancellationToken ct)
    {
        var (conversation, created) = body.Kind switch
        {
            null or ConversationKinds.Service => await actions.OpenServiceAsync(user, body.StoreKey, body.QueueId, ct),
            ConversationKinds.Direct => await actions.OpenDirectAsync(user, body.UserId, ct),
            ConversationKinds.Group => (await actions.CreateGroupAsync(user, body.Name, body.MemberIds, ct), true),
            _ => throw ApiException.Invalid("kind is service (with store_key), direct (with user_id) or group (with name and member_ids)."),
        };
        return created ? TypedResults.Created($"/v1/conversations/{conversation.Id}", conversation) : TypedResults.Ok(conversation);
    }

    private static async Task<Results<Created<MessageDto>, Ok<MessageDto>>> SendAsync(
        string id, SendMessageRequest body, CurrentUser user, MessageActions actions, CancellationToken ct)
    {
        // Not the request's token: once accepted, a send completes even if the client goes away.
        var result = await actions.SendAsync(user, id, body, null, CancellationToken.None);
        return result.Created ? TypedResults.Created($"/v1/conversations/{id}/messages", result.Message) : TypedResults.Ok(result.Message);
    }
}
