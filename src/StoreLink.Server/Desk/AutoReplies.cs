using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Http;

namespace StoreLink.Server.Desk;

/// <summary>What the desk tells a customer by itself, in their language: who serves them now, and that the store is closed.</summary>
public sealed class AutoReplies(SystemPosts posts)
{
    public Task ServedByAsync(ConversationFacts facts, string agentName, CancellationToken ct) =>
        posts.PostSystemAsync(facts, language => Texts.Get(language, "served_by", ("name", agentName)), ct);

    /// <summary>The store is closed; it opens again at <paramref name="opening"/> (in the store's time), if it knows when.</summary>
    public Task ClosedAsync(ConversationFacts facts, StoreRow store, DateTimeOffset? opening, CancellationToken ct) =>
        posts.PostSystemAsync(facts, language => opening is null ? Texts.Get(language, "closed")
            : Texts.Get(language, "closed_until",
                ("time", Texts.Time(language, TimeZoneInfo.ConvertTime(opening.Value, TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone))))), ct);
}
