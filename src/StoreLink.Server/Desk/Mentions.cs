using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;

namespace StoreLink.Server.Desk;

/// <summary>A note that named the caller: the notes thread, its service conversation and the note itself.</summary>
public sealed record MentionDto(string ConversationId, string ParentId, MessageDto Message);

/// <summary><c>GET /v1/desk/mentions</c>: the notes that mentioned the caller, newest first (the <c>mention</c> push, for later).</summary>
public static class Mentions
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/desk/mentions", async (int? limit, CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireStaff(user);
            var rows = await db.QueryAsync<MentionRow>($"""
                SELECT mn.parent_id, c.store_id, {MessageRow.ColumnsOf("m")}
                FROM mentions mn JOIN messages m ON m.id = mn.message_id JOIN conversations c ON c.id = mn.conversation_id
                WHERE mn.staff_id = @me ORDER BY mn.created_at DESC, m.id LIMIT @take
                """, new { me = user.Id, take = Math.Clamp(limit ?? 50, 1, 200) }, ct);
            // A note of a store the caller no longer works in stays there.
            return TypedResults.Ok(rows.Where(r => Access.SeesStore(user, r.StoreId)).Select(r => new MentionDto(r.ConversationId, r.ParentId, r.ToDto())).ToList());
        }).RequireAuthorization().WithTags("Desk");

    private sealed class MentionRow : MessageRow
    {
        public string ParentId { get; set; } = "";
        public string StoreId { get; set; } = "";
    }
}
