import { exitOnStartFailure, loadSettingsOrExit, startHttpApp } from '@app/http-platform';
import { startTracing } from '@app/messaging/tracing';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { documentSendMessageRoute, SEND_MESSAGE_MODELS } from './messages/send-message.openapi';
import { ProducerModule } from './producer.module';

async function bootstrap(): Promise<void> {
  // Before Nest, so the SDK is registered when the first span starts (off unless an OTLP endpoint is set).
  const tracing = await startTracing('producer');
  const settings = loadSettingsOrExit();
  await startHttpApp(ProducerModule.forRoot(settings), settings, settings.producerPort, 'producer', (app) => {
    tracing.instrument(app);
    const document = new DocumentBuilder()
      .setTitle('Producer')
      .setDescription('Accepts messages and publishes them to RabbitMQ with broker confirms, or stores them for replay.')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'api-key')
      .build();
    const openApi = SwaggerModule.createDocument(app, document, { extraModels: SEND_MESSAGE_MODELS });
    SwaggerModule.setup('docs', app, documentSendMessageRoute(openApi));
  });
}

bootstrap().catch(exitOnStartFailure);
