using Microsoft.AspNetCore.Http.HttpResults;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Calls;

/// <summary>The call routes of docs/protocol.md "Calls"; every one goes through <see cref="CallActions"/>.</summary>
public static class CallsApi
{
    public static void Map(IEndpointRouteBuilder app, RouteGroupBuilder group)
    {
        // The conversation's own call routes live here, in a group of their own, beside the Conversations feature's.
        var conversations = app.MapGroup("/v1/conversations/{id}/calls").RequireAuthorization().WithTags("Calls");
        conversations.MapPost("/", StartAsync);
        conversations.MapGet("/", async (string id, int? limit, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.ListAsync(user, id, limit, ct)));

        group.MapGet("/{id}", async (string id, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.GetAsync(user, id, ct)));
        group.MapPost("/{id}/accept", async (string id, AcceptCallRequest body, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.AcceptAsync(user, id, body, ct)));
        group.MapPost("/{id}/decline", async (string id, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.DeclineAsync(user, id, ct)));
        group.MapPost("/{id}/hangup", async (string id, HangupCallRequest? body, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.HangupAsync(user, id, body, ct)));
        group.MapPost("/{id}/invite", async (string id, InviteToCallRequest body, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.InviteAsync(user, id, body, ct)));
        group.MapPost("/{id}/stats", async (string id, CallStatsRequest body, CurrentUser user, CallActions calls, CancellationToken ct) =>
        {
            await calls.StatsAsync(user, id, body, ct);
            return TypedResults.NoContent();
        });
        group.MapPost("/{id}/snapshot", async (string id, CallSnapshotRequest body, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Created($"/v1/calls/{id}", await calls.SnapshotAsync(user, id, body, ct)));
        group.MapPost("/{id}/recording", async (string id, CallRecordingRequest body, CurrentUser user, CallActions calls, CancellationToken ct) =>
            TypedResults.Ok(await calls.RecordingAsync(user, id, body, ct)));
    }

    private static async Task<Created<CallDto>> StartAsync(string id, StartCallRequest body, CurrentUser user, CallActions calls, CancellationToken ct)
    {
        var call = await calls.StartAsync(user, id, body, ct);
        return TypedResults.Created($"/v1/calls/{call.Id}", call);
    }
}
