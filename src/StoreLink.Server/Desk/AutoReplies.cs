using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;

namespace StoreLink.Server.Desk;

/// <summary>What the desk tells a customer by itself, in their language: who serves them now, and that the store is closed.</summary>
public sealed class AutoReplies(SystemPosts posts)
{
    public Task ServedByAsync(ConversationFacts facts, string agentName, CancellationToken ct) =>
        posts.PostSystemAsync(facts, language => DeskTexts.Get(language, "served_by", ("name", agentName)), ct);

    /// <summary>The store is closed; it opens again at <paramref name="opening"/> (in the store's time), if it knows when.</summary>
    public Task ClosedAsync(ConversationFacts facts, StoreRow store, DateTimeOffset? opening, CancellationToken ct) =>
        posts.PostSystemAsync(facts, language => opening is null ? DeskTexts.Get(language, "closed")
            : DeskTexts.Get(language, "closed_until",
                ("time", DeskTexts.Time(language, TimeZoneInfo.ConvertTime(opening.Value, TimeZoneInfo.FindSystemTimeZoneById(store.TimeZone))))), ct);
}
