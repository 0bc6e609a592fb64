namespace StoreLink.Server.Conversations;

public static class ConversationsSetup
{
    public static WebApplicationBuilder AddConversations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MessageOptions>().BindConfiguration("Messages")
            .Validate(o => o.IsValid(), "Messages: text length 1–100000, attachments up to 2 GiB.").ValidateOnStart();
        builder.Services.AddSingleton<ConversationDirectory>();
        builder.Services.AddSingleton<ConversationActions>();
        builder.Services.AddSingleton<MessageActions>();
        builder.Services.AddSingleton<SystemPosts>();
        builder.Services.AddSingleton<AttachmentStore>();
        builder.Services.AddSingleton<MessageWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MessageWriter>());
        return builder;
    }

    public static void MapConversationsFeature(this IEndpointRouteBuilder app)
    {
        app.MapConversations();
        app.MapAttachments();
    }
}
